#include "sts/mx_pattern.hpp"

#include <fmt/format.h>

#include "sts/abnf.hpp"
#include "sts/excerpt.hpp"

namespace mtasts::sts {

namespace {

constexpr std::size_t kMaxLabelLength = 63;  // RFC 1035 §2.3.4
constexpr std::size_t kMaxNameLength = 253;  // RFC 1035 §2.3.4, without the root dot

std::string_view without_trailing_dot(std::string_view name) {
  if (name.ends_with('.')) name.remove_suffix(1);
  return name;
}

// RFC 5321 §4.1.2 sub-domain = Let-dig [Ldh-str]; RFC 1035 §2.3.4 length.
std::string label_error(std::string_view label) {
  if (label.empty()) return "empty label";
  if (label.size() > kMaxLabelLength) {
    return fmt::format("label '{}' longer than {} octets", excerpt(label), kMaxLabelLength);
  }
  for (const char c : label) {
    if (!abnf::is_alnum(c) && c != '-') {
      // U-labels land here too: §3.2 requires A-labels.
      return fmt::format("label '{}' is not letters, digits and hyphens", excerpt(label));
    }
  }
  if (label.front() == '-' || label.back() == '-') {
    return fmt::format("label '{}' begins or ends with a hyphen", excerpt(label));
  }
  return {};
}

}  // namespace

std::string hostname_error(std::string_view name) {
  name = without_trailing_dot(name);
  if (name.empty()) return "empty name";
  if (name.size() > kMaxNameLength) {
    return fmt::format("name longer than {} octets", kMaxNameLength);
  }
  std::string_view last;
  std::size_t start = 0;
  while (true) {
    const std::size_t dot = name.find('.', start);
    const std::string_view label =
        name.substr(start, dot == std::string_view::npos ? std::string_view::npos : dot - start);
    if (auto error = label_error(label); !error.empty()) return error;
    if (dot == std::string_view::npos) {
      last = label;
      break;
    }
    start = dot + 1;
  }
  // An all-numeric top-level label makes an IP literal such as 192.0.2.1,
  // not a hostname (RFC 3696 §2).
  if (abnf::all_digits(last)) return fmt::format("top-level label '{}' is numeric", last);
  return {};
}

bool is_valid_hostname(std::string_view name) { return hostname_error(name).empty(); }

bool is_valid_mx_pattern(std::string_view pattern) {
  // §3.2: sts-policy-mx-value = ["*."] Domain; the wildcard is only the whole
  // left-most label, so "*", "*.*.x" and "a*.x" are invalid.
  pattern = without_trailing_dot(pattern);
  if (pattern.starts_with(kWildcardPrefix)) pattern.remove_prefix(kWildcardPrefix.size());
  return !pattern.ends_with('.') && is_valid_hostname(pattern);
}

std::string normalize_mx_pattern(std::string_view pattern) {
  return abnf::ascii_lower(without_trailing_dot(pattern));
}

bool mx_pattern_matches(std::string_view pattern, std::string_view host) {
  // §4.1: case-insensitive; a trailing dot on either side does not matter.
  const std::string p = normalize_mx_pattern(pattern);
  const std::string h = abnf::ascii_lower(without_trailing_dot(host));
  if (p.empty() || h.empty()) return false;
  if (!std::string_view(p).starts_with(kWildcardPrefix)) return p == h;
  // §4.1: "*" matches exactly one whole left-most label: not zero labels
  // ("example.com") and not several ("a.b.example.com").
  const std::size_t dot = h.find('.');
  if (dot == 0 || dot == std::string::npos) return false;
  return std::string_view(h).substr(dot + 1) == std::string_view(p).substr(kWildcardPrefix.size());
}

}  // namespace mtasts::sts
