#pragma once
// RFC 8461 §3.2 / §4.1: mx patterns and their matching. Pure logic.
#include <string>
#include <string_view>

namespace mtasts::sts {

// The wildcard of an mx pattern (RFC 8461 §3.2, §4.1: matches one leftmost label).
inline constexpr std::string_view kWildcardPrefix = "*.";

// §3.2: `["*."] Domain`, A-labels only; IP literals, bare `*`, empty labels invalid.
// A single trailing dot is tolerated. Case-insensitive.
bool is_valid_mx_pattern(std::string_view pattern);

// Lower-case, strip one trailing dot. Precondition: is_valid_mx_pattern(pattern).
std::string normalize_mx_pattern(std::string_view pattern);

// §4.1: `*` matches exactly one whole left-most label; case-insensitive;
// trailing dots on either side ignored.
bool mx_pattern_matches(std::string_view pattern, std::string_view host);

// True for a syntactically valid DNS hostname in A-label form (LDH labels of
// 1..63 octets, total <= 253 without the trailing dot, at least one label).
bool is_valid_hostname(std::string_view name);

// Why name is not a valid hostname ("label 'a_b' is not letters, digits and
// hyphens", ...), or an empty string when is_valid_hostname(name).
std::string hostname_error(std::string_view name);

}  // namespace mtasts::sts
