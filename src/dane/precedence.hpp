#pragma once
// Which of DANE (RFC 7672) and MTA-STS (RFC 8461) decides Postfix's TLS policy
// for a destination. RFC 8461 §2: MTA-STS must not override DANE. Pure logic.
#include <optional>

#include "dane/level.hpp"

namespace mtasts::dane {

// With no usable DANE result and lookups failing: defer the mail (temp) or let
// MTA-STS decide alone (sts), which an attacker who breaks DNS could exploit.
enum class OnFailure { temp, sts };

enum class Choice {
  sts,        // the MTA-STS answer as it is
  dane_only,  // "OK dane-only"
  dane,       // "OK dane"
  temp,       // "TEMP ": defer, nothing safe is known
};

// level: the destination's DANE level; nullopt when the lookups fail and no
// result is usable. sts_enforced: MTA-STS alone would authenticate every MX
// ("OK secure ..."); not when there is no policy or it is testing/none.
//   dane-only                  -> dane_only (no STS policy may override it)
//   dane (partial) + enforced  -> sts: Postfix has no per-host policy, and "secure"
//                                 authenticates every MX where "dane" would leave the
//                                 hosts without TLSA unauthenticated (decisions.md)
//   dane (partial), not        -> dane
//   none                       -> sts
//   failed + enforced          -> sts (authenticated either way)
//   failed, on_failure temp    -> temp
//   failed, on_failure sts     -> sts
constexpr Choice choose(std::optional<Level> level, bool sts_enforced, OnFailure on_failure) {
  if (!level) {
    return sts_enforced || on_failure == OnFailure::sts ? Choice::sts : Choice::temp;
  }
  switch (*level) {
    case Level::dane_only:
      return Choice::dane_only;
    case Level::dane:
      return sts_enforced ? Choice::sts : Choice::dane;
    case Level::none:
      return Choice::sts;
  }
  return Choice::temp;
}

}  // namespace mtasts::dane
