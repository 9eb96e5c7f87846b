#include "sts/answer.hpp"

#include <algorithm>
#include <vector>

#include "sts/abnf.hpp"
#include "sts/mx_pattern.hpp"

namespace mtasts::sts {

namespace {

constexpr std::string_view kWildcardPrefix = "*.";

// The policy's patterns as Postfix may receive them: normalized, in policy order,
// duplicates removed. parse_policy already did this; a Policy read back from a
// cache is re-checked, because a pattern with whitespace, "," or ":" would split
// Postfix's attribute list and make the whole answer invalid (mail deferred).
std::vector<std::string> answer_patterns(const std::vector<std::string>& mx) {
  std::vector<std::string> patterns;
  for (const auto& raw : mx) {
    if (!is_valid_mx_pattern(raw)) continue;
    std::string pattern = normalize_mx_pattern(raw);
    if (std::find(patterns.begin(), patterns.end(), pattern) == patterns.end()) {
      patterns.push_back(std::move(pattern));
    }
  }
  return patterns;
}

// Postfix's `{ name = value }` form (3.10) has no escape: a value holding "{" or
// "}" would end or nest the group, and a CTL (a line break) would split the
// answer. Such lines are left out of policy_string rather than corrupting it.
bool fits_policy_string(std::string_view line) {
  return !abnf::trim_wsp(line).empty() && std::none_of(line.begin(), line.end(), [](char c) {
    return c == '{' || c == '}' || abnf::is_ctl(c);
  });
}

void append_tlsrpt(std::string& out, std::string_view policy_domain,
                   const std::vector<std::string>& patterns, const Policy& policy) {
  // Postfix TLSRPT_README: policy_type, policy_domain (a valid hostname), one
  // mx_host_pattern per mx in "*." form, one policy_string per policy line.
  out += " policy_type=sts policy_domain=";
  out += policy_domain;
  for (const auto& pattern : patterns) {
    out += " mx_host_pattern=";
    out += pattern;
  }
  for (const auto& line : policy.lines) {
    if (!fits_policy_string(line)) continue;
    out += " { policy_string = ";
    out += line;
    out += " }";
  }
}

}  // namespace

std::string render_policy_answer(const Policy& policy, std::string_view policy_domain,
                                 const AnswerOptions& options) {
  // RFC 8461 §5: only enforce is applied; testing only reports (unless the zone
  // asks for strict_testing), none means no active policy.
  const bool enforced =
      policy.mode == Mode::enforce || (policy.mode == Mode::testing && options.strict_testing);
  if (!enforced) return std::string(kNotFound);

  const std::vector<std::string> patterns = answer_patterns(policy.mx);
  // §3.2: an enforce policy without a usable mx is not a valid policy; an empty
  // `match=` would mean something else to Postfix.
  if (patterns.empty()) return std::string(kNotFound);

  // §4.1/§4.2: the MX certificate must match a pattern. Postfix writes "*.x" as
  // ".x" (which it matches at any depth unless mx_host_pattern is given).
  std::string out = "OK secure match=";
  for (std::size_t i = 0; i < patterns.size(); ++i) {
    if (i > 0) out += ':';
    const std::string_view pattern = patterns[i];
    out += pattern.starts_with(kWildcardPrefix) ? pattern.substr(1) : pattern;
  }
  // §7.1: SNI must carry the MX hostname (Postfix >= 3.4).
  if (options.require_sni) out += " servername=hostname";

  if (options.tlsrpt) {
    // policy_domain must be a valid hostname for Postfix, or it rejects the
    // whole answer: keep the enforcement and leave the report attributes out.
    std::string domain = abnf::ascii_lower(policy_domain);
    if (domain.ends_with('.')) domain.pop_back();
    if (is_valid_hostname(domain)) append_tlsrpt(out, domain, patterns, policy);
  }
  return out;
}

}  // namespace mtasts::sts
