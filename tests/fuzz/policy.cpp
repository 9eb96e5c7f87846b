// RFC 8461 §3.2 policy bodies, and the Postfix answers rendered from them. The
// SQLite cache re-validates every stored body with the same parse_policy, so
// this target covers bodies as loaded from a store too.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "fuzz_check.hpp"
#include "sts/answer.hpp"
#include "sts/mx_pattern.hpp"
#include "sts/policy.hpp"

using mtasts::sts::AnswerOptions;
using mtasts::sts::Mode;
using mtasts::sts::Policy;

namespace {

constexpr std::string_view kDomain = "example.com";

bool has_ctl(std::string_view text) {
  return std::any_of(text.begin(), text.end(), [](char c) {
    return static_cast<unsigned char>(c) < 0x20 || static_cast<unsigned char>(c) == 0x7f;
  });
}

// The value of the first " NAME=" attribute of an answer, up to the next space.
std::string_view attribute(std::string_view answer, std::string_view name) {
  const std::string needle = " " + std::string(name) + "=";
  const std::size_t at = answer.find(needle);
  if (at == std::string_view::npos) return {};
  const std::string_view rest = answer.substr(at + needle.size());
  return rest.substr(0, rest.find(' '));
}

std::size_t count(std::string_view text, std::string_view needle) {
  std::size_t n = 0;
  for (std::size_t at = text.find(needle); at != std::string_view::npos;
       at = text.find(needle, at + needle.size())) {
    ++n;
  }
  return n;
}

// The answer without its " { policy_string = LINE }" groups: a policy line may
// hold text such as " mx_host_pattern=x" that is opaque to Postfix inside { }.
std::string outside_groups(std::string_view answer) {
  std::string out;
  for (;;) {
    const std::size_t open = answer.find(" {");
    out += answer.substr(0, open);
    if (open == std::string_view::npos) return out;
    const std::size_t close = answer.find('}', open);
    if (close == std::string_view::npos) return out;
    answer.remove_prefix(close + 1);
  }
}

// match=P1:P2 written back in policy form: Postfix's ".x" is the policy's "*.x".
std::vector<std::string> patterns_of(std::string_view match) {
  std::vector<std::string> out;
  for (std::string_view rest = match;;) {
    const auto [pattern, after] = mtasts::fuzz::split_once(rest, ':');
    out.push_back(pattern.starts_with('.') ? "*" + std::string(pattern) : std::string(pattern));
    if (pattern.size() == rest.size()) break;
    rest = after;
  }
  return out;
}

void check_answer(const Policy& policy, const AnswerOptions& options) {
  const std::string answer = mtasts::sts::render_policy_answer(policy, kDomain, options);
  // A CTL would end the netstring payload's meaning for Postfix; braces must pair.
  FUZZ_CHECK(!has_ctl(answer));
  const bool enforced =
      policy.mode == Mode::enforce || (policy.mode == Mode::testing && options.strict_testing);
  if (!enforced) {
    FUZZ_CHECK(answer == mtasts::sts::kNotFound);
    return;
  }
  FUZZ_CHECK(answer.starts_with("OK secure match="));
  FUZZ_CHECK(patterns_of(attribute(answer, "match")) == policy.mx);
  const std::string attributes = outside_groups(answer);
  FUZZ_CHECK((count(attributes, " servername=hostname") == 1) == options.require_sni);
  if (options.tlsrpt) {
    FUZZ_CHECK(attribute(attributes, "policy_domain") == kDomain);
    FUZZ_CHECK(count(attributes, " mx_host_pattern=") == policy.mx.size());
    FUZZ_CHECK(count(answer, "{") == count(answer, " { policy_string = "));
    FUZZ_CHECK(count(answer, "}") == count(answer, "{"));
    FUZZ_CHECK(count(answer, "{") <= policy.lines.size());
  } else {
    FUZZ_CHECK(answer.find(" {") == std::string::npos);
    FUZZ_CHECK(attributes.find("policy_") == std::string::npos);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view body = mtasts::fuzz::as_text(data, size);
  const auto result = mtasts::sts::parse_policy(body);
  FUZZ_CHECK(result.policy.has_value() == result.error.empty());
  if (!result.policy) {
    FUZZ_CHECK(result.error.size() < 400);  // errors are logged: bounded excerpts only
    return 0;
  }
  const Policy& policy = *result.policy;

  // §3.2: max_age at most one year; mx required unless mode is none.
  FUZZ_CHECK(policy.max_age <= mtasts::sts::kMaxAgeLimit);
  FUZZ_CHECK(policy.mode == Mode::none || !policy.mx.empty());
  for (std::size_t i = 0; i < policy.mx.size(); ++i) {
    const std::string& mx = policy.mx[i];
    FUZZ_CHECK(mtasts::sts::is_valid_mx_pattern(mx));
    FUZZ_CHECK(mtasts::sts::normalize_mx_pattern(mx) == mx);
    FUZZ_CHECK(std::find(policy.mx.begin(), policy.mx.begin() + static_cast<std::ptrdiff_t>(i),
                         mx) == policy.mx.begin() + static_cast<std::ptrdiff_t>(i));
  }
  for (const auto& line : policy.lines) {
    FUZZ_CHECK(!line.empty() && line.find_first_of("\r\n") == std::string::npos);
  }

  // The kept lines are the policy: parsing them again changes nothing.
  std::string joined;
  for (const auto& line : policy.lines) joined += line + "\n";
  const auto again = mtasts::sts::parse_policy(joined);
  FUZZ_CHECK(again.policy.has_value() && *again.policy == policy);

  for (const bool strict_testing : {false, true}) {
    for (const bool require_sni : {false, true}) {
      for (const bool tlsrpt : {false, true}) {
        check_answer(policy, AnswerOptions{strict_testing, require_sni, tlsrpt});
      }
    }
  }
  return 0;
}
