#pragma once
// An answer for Postfix as the lifecycle handles it: what kind it is (and so
// whether it authenticates the MX hosts), rendered to socketmap text only where
// it leaves the lifecycle (text()). Pure logic.
#include <string_view>

#include "dane/precedence.hpp"
#include "sts/answer.hpp"
#include "sts/policy.hpp"

namespace mtasts::resolver {

inline constexpr std::string_view kDaneOnlyAnswer = "OK dane-only";
inline constexpr std::string_view kDaneAnswer = "OK dane";
inline constexpr std::string_view kTempAnswer = "TEMP ";

struct Answer {
  enum class Kind { secure, dane_only, dane, notfound, temp };
  Kind kind = Kind::notfound;
  std::string_view secure_text;  // Kind::secure: the rendered "OK secure match=..."

  static Answer notfound() { return {}; }
  // What MTA-STS alone says: an enforced policy's rendered answer, or nothing.
  static Answer sts(bool enforced, std::string_view rendered) {
    return enforced ? Answer{Kind::secure, rendered} : Answer{};
  }
  // Postfix authenticates the MX hosts (WebPKI or DANE) with this answer.
  bool authenticates() const {
    return kind == Kind::secure || kind == Kind::dane_only || kind == Kind::dane;
  }
  std::string_view text() const {
    switch (kind) {
      case Kind::secure:
        return secure_text;
      case Kind::dane_only:
        return kDaneOnlyAnswer;
      case Kind::dane:
        return kDaneAnswer;
      case Kind::notfound:
        return sts::kNotFound;
      case Kind::temp:
        return kTempAnswer;
    }
    return kTempAnswer;
  }
};

// Whether render_policy_answer gives "OK secure ..." for this policy in a zone
// with these options (RFC 8461 §5: enforce; testing only with strict_testing).
constexpr bool sts_enforced(const sts::Policy& policy, const sts::AnswerOptions& options) {
  return policy.mode == sts::Mode::enforce ||
         (policy.mode == sts::Mode::testing && options.strict_testing);
}

// DANE first (RFC 8461 §2), then MTA-STS: see dane::choose.
constexpr Answer combine(std::optional<dane::Level> dane, Answer sts, dane::OnFailure on_failure) {
  switch (dane::choose(dane, sts.kind == Answer::Kind::secure, on_failure)) {
    case dane::Choice::sts:
      return sts;
    case dane::Choice::dane_only:
      return {Answer::Kind::dane_only, {}};
    case dane::Choice::dane:
      return {Answer::Kind::dane, {}};
    case dane::Choice::temp:
      return {Answer::Kind::temp, {}};
  }
  return {Answer::Kind::temp, {}};
}

// MTA-STS's answer once DANE is known to be partial (dane), absent (none) or
// complete (dane_only); on_failure plays no part when DANE is known.
constexpr Answer with_dane(dane::Level level, Answer sts) {
  return combine(level, sts, dane::OnFailure::temp);
}

}  // namespace mtasts::resolver
