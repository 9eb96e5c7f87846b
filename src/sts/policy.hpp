#pragma once
// RFC 8461 §3.2: the policy body served at /.well-known/mta-sts.txt. Pure logic.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace mtasts::sts {

enum class Mode { enforce, testing, none };

std::string_view to_string(Mode mode);
std::optional<Mode> mode_from_string(std::string_view text);  // case-sensitive (§3.2)

inline constexpr std::uint32_t kMaxAgeLimit = 31557600;  // §3.2: max_age at most one year

struct Policy {
  Mode mode = Mode::none;
  std::uint32_t max_age = 0;    // seconds
  std::vector<std::string> mx;  // patterns as published, lower-cased, trailing dot removed,
                                // in policy order, duplicates removed; "*.example.com" form kept
  // The non-empty lines as fetched, minus the line end and the WSP before it (§3.2:
  // not part of the field), for TLSRPT policy_string.
  std::vector<std::string> lines;

  bool operator==(const Policy&) const = default;
};

struct PolicyParseResult {
  std::optional<Policy> policy;
  std::string error;  // short human reason, e.g. "max_age 31557601 exceeds 31557600"
};

// §3.2 grammar: lines end with LF or CRLF (a bare CR is not a line end), the last
// may lack one; empty lines are skipped; `key: value` with `":" *WSP`; version,
// mode, max_age required; mx required unless mode is none; first occurrence of a
// repeated non-mx key wins; unknown keys ignored; anything else invalid.
PolicyParseResult parse_policy(std::string_view body);

}  // namespace mtasts::sts
