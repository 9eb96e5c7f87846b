#pragma once
// Which answer Postfix gets once DANE (RFC 7672) and MTA-STS (RFC 8461) have
// both spoken. RFC 8461 §2: MTA-STS must not override DANE. Pure logic.
#include <string_view>

namespace mtasts::resolver {

inline constexpr std::string_view kDaneOnlyAnswer = "OK dane-only";
inline constexpr std::string_view kDaneAnswer = "OK dane";
inline constexpr std::string_view kTempAnswer = "TEMP ";

enum class DaneState {
  none,     // no secure TLSA: MTA-STS decides
  partial,  // some MX hosts have secure TLSA (dane::Level::dane)
  all,      // every MX host DANE-authenticated behind a secure MX RRset (dane-only)
  failed,   // lookups failing, no usable result
};

enum class DaneFailure { temp, sts };

// sts_answer: what MTA-STS alone answers in this zone ("NOTFOUND " when there is
// no policy, or it is testing/none); an "OK secure ..." answer means enforced.
//   all                        -> "OK dane-only" (no STS policy may override it)
//   partial + enforced STS     -> the STS answer: Postfix has no per-host policy, and
//                                 "secure" authenticates every MX, "dane" would leave
//                                 hosts without TLSA unauthenticated
//   partial, STS not enforced  -> "OK dane"
//   none                       -> the STS answer
//   failed + enforced STS      -> the STS answer (authenticated either way)
//   failed, on_failure temp    -> "TEMP "
//   failed, on_failure sts     -> the STS answer
constexpr std::string_view select_answer(DaneState dane, std::string_view sts_answer,
                                         DaneFailure on_failure) {
  const bool enforced = sts_answer.substr(0, 3) == "OK ";
  switch (dane) {
    case DaneState::all:
      return kDaneOnlyAnswer;
    case DaneState::partial:
      return enforced ? sts_answer : kDaneAnswer;
    case DaneState::none:
      return sts_answer;
    case DaneState::failed:
      if (enforced || on_failure == DaneFailure::sts) return sts_answer;
      return kTempAnswer;
  }
  return kTempAnswer;
}

}  // namespace mtasts::resolver
