#include "sts/answer.hpp"

#include <algorithm>
#include <vector>

#include <fmt/format.h>

#include "sts/abnf.hpp"
#include "sts/excerpt.hpp"
#include "sts/mx_pattern.hpp"

namespace mtasts::sts {

namespace {

// Postfix logs the reason of a TEMP reply ("socketmap server temporary error: ...").
constexpr std::string_view kTooLarge = "TEMP MTA-STS answer exceeds the socketmap reply limit";
constexpr std::string_view kTempEmpty = "TEMP ";

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

// RFC 8461 §3.2: a line is sts-policy-field *WSP sts-policy-term, so whitespace at
// the end of a line is not part of the field (and a field never begins with WSP).
// Postfix would strip it inside `{ }` anyway; an HTAB there must not cost the line.
std::string_view policy_string_value(std::string_view line) { return abnf::trim_wsp(line); }

// Postfix's `{ name = value }` form (3.10) has no escape: a value holding "{" or
// "}" would end or nest the group, and a CTL (a line break) would split the
// answer. Such lines are left out of policy_string rather than corrupting it.
bool fits_policy_string(std::string_view value) {
  return !value.empty() && std::none_of(value.begin(), value.end(), [](char c) {
    return c == '{' || c == '}' || abnf::is_ctl(c);
  });
}

// Postfix TLSRPT_README: policy_type, policy_domain (a valid hostname), one
// mx_host_pattern per mx in "*." form.
std::string tlsrpt_attributes(std::string_view policy_domain,
                              const std::vector<std::string>& patterns) {
  std::string out = " policy_type=sts policy_domain=";
  out += policy_domain;
  for (const auto& pattern : patterns) {
    out += " mx_host_pattern=";
    out += pattern;
  }
  return out;
}

// One policy_string per policy line (TLSRPT_README; RFC 8460 §4.4 policy-string).
std::string policy_strings(const Policy& policy) {
  std::string out;
  for (const auto& line : policy.lines) {
    const std::string_view value = policy_string_value(line);
    if (!fits_policy_string(value)) continue;
    out += " { policy_string = ";
    out += value;
    out += " }";
  }
  return out;
}

}  // namespace

RenderedAnswer render_policy_answer_checked(const Policy& policy, std::string_view policy_domain,
                                            const AnswerOptions& options) {
  RenderedAnswer rendered;
  auto finish = [&rendered](std::string text) {
    rendered.full_bytes = text.size();
    rendered.text = std::move(text);
    return std::move(rendered);
  };

  // RFC 8461 §5: only enforce is applied; testing only reports (unless the zone
  // asks for strict_testing), none means no active policy.
  const bool enforced =
      policy.mode == Mode::enforce || (policy.mode == Mode::testing && options.strict_testing);
  if (!enforced) return finish(std::string(kNotFound));

  const std::vector<std::string> patterns = answer_patterns(policy.mx);
  // §3.2: an enforce policy without a usable mx is not a valid policy; an empty
  // `match=` would mean something else to Postfix.
  if (patterns.empty()) return finish(std::string(kNotFound));

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

  std::string tlsrpt;
  std::string strings;
  if (options.tlsrpt) {
    // policy_domain must be a valid hostname for Postfix, or it rejects the
    // whole answer: keep the enforcement and leave the report attributes out.
    std::string domain = abnf::ascii_lower(policy_domain);
    if (domain.ends_with('.')) domain.pop_back();
    if (is_valid_hostname(domain)) {
      tlsrpt = tlsrpt_attributes(domain, patterns);
      strings = policy_strings(policy);
    }
  }

  const std::size_t limit = options.max_answer_bytes;
  rendered.full_bytes = out.size() + tlsrpt.size() + strings.size();
  // Over Postfix's socketmap_max_reply_size the whole reply is unreadable and the
  // mail waits forever. The report attributes go first, in whole groups: a partial
  // policy_string list would report another policy than the one applied (RFC 8460
  // §4.4), and a partial mx_host_pattern list would make Postfix >= 3.10.5 refuse
  // the MX hosts left out. policy_type and policy_domain go with the patterns:
  // Postfix 3.10 before HISTORY 20251027 crashed on an STS policy carrying neither
  // policy_string nor mx_host_pattern. The bare `secure match=` list is bounded by
  // the policy body (RFC 8461 §3.3 suggests 64 KiB) and stays.
  if (rendered.full_bytes > limit && !strings.empty()) {
    strings.clear();
    rendered.dropped_policy_strings = true;
  }
  if (out.size() + tlsrpt.size() + strings.size() > limit && !tlsrpt.empty()) {
    tlsrpt.clear();
    rendered.dropped_mx_patterns = true;
  }
  if (out.size() > limit) {
    // Only with a limit far below what a policy body can produce, or a Policy
    // not made by parse_policy. A truncated match list would turn away MX hosts
    // the policy allows, NOTFOUND would drop an enforce policy (§5): a TEMP reply
    // defers the mail exactly as an unreadable one would, with a reason in the log.
    rendered.too_large = true;
    rendered.text = std::string(kTooLarge.size() <= limit ? kTooLarge : kTempEmpty);
    return rendered;
  }
  out += tlsrpt;
  out += strings;
  rendered.text = std::move(out);
  return rendered;
}

std::string render_policy_answer(const Policy& policy, std::string_view policy_domain,
                                 const AnswerOptions& options) {
  return render_policy_answer_checked(policy, policy_domain, options).text;
}

std::string describe_capped_answer(const RenderedAnswer& answer, std::string_view policy_domain,
                                   const AnswerOptions& options) {
  if (!answer.capped()) return {};
  std::string_view what;
  if (answer.too_large) {
    what = "answered TEMP (even the match= list alone is too long; mail to it is deferred)";
  } else if (answer.dropped_policy_strings && answer.dropped_mx_patterns) {
    what = "dropped its policy_string and mx_host_pattern (TLSRPT) attributes";
  } else if (answer.dropped_mx_patterns) {
    what = "dropped its mx_host_pattern (TLSRPT) attributes";
  } else {
    what = "dropped its policy_string (TLSRPT) attributes";
  }
  return fmt::format(
      "answer for {} would be {} bytes, over the {}-byte socketmap reply limit "
      "(Postfix socketmap_max_reply_size): {}",
      excerpt(policy_domain), answer.full_bytes, options.max_answer_bytes, what);
}

}  // namespace mtasts::sts
