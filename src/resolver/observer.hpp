#pragma once
// What the lifecycles tell whoever watches them (the daemon's metrics): one
// call per finished discovery, refresh, DANE lookup and downgrade alarm. Never
// called on the cache-hit path, so counting a hit costs nothing here; the
// daemon counts answers at its socketmap handler. Every method has an empty
// default, and a lifecycle without an observer calls nothing.
#include <chrono>
#include <cstdint>
#include <string_view>

#include "dane/verdict.hpp"
#include "resolver/discovery.hpp"

namespace mtasts::resolver {

// Why a refresh (a discovery for a domain whose policy we hold: revalidation,
// proactive refresh, a TXT id seen changed) ended as it did.
enum class RefreshOutcome : std::uint8_t {
  unchanged,    // the TXT id is the one we hold (§3.1): confirmed, no fetch
  updated,      // a new policy replaced the one we held (§5.1)
  failed_kept,  // the discovery failed; the unexpired policy keeps applying (§3.3)
  count,
};
std::string_view to_string(RefreshOutcome outcome);

// A finished network discovery (not a store read, not an overload refusal).
struct DiscoveryReport {
  DiscoveryResult::Outcome outcome = DiscoveryResult::Outcome::temp_failure;
  DiscoveryFailure failure = DiscoveryFailure::none;
  bool background = false;            // a refresh (revalidation, proactive): no query waited on it
  std::chrono::nanoseconds dns{0};    // TXT plus the policy host's addresses
  std::chrono::nanoseconds https{0};  // the policy fetch (0 when not reached)
};

// A finished DANE lookup (RFC 7672 §2.2): the verdict, or temp with why.
struct DaneReport {
  dane::Verdict verdict = dane::Verdict::temp;
  bool bogus = false;  // temp because a validating resolver said SERVFAIL (bogus DNSSEC)
  std::chrono::nanoseconds duration{0};
};

// A domain with an enforce policy about to lose it, or changed for the weaker
// (the downgrade alarm): said once per domain and kind until it clears.
enum class AlarmKind : std::uint8_t {
  expiring,       // refreshes keep failing and expiry is within a warning margin
  txt_removed,    // the _mta-sts TXT record disappeared (§3.3: the policy still applies)
  weaker_policy,  // the new policy is testing/none, drops MX patterns, or a much shorter max_age
  dane_insecure,  // DANE turned insecure for a destination it protected
  count,
};
std::string_view to_string(AlarmKind kind);

class Observer {
 public:
  virtual ~Observer() = default;
  virtual void discovered(const DiscoveryReport&) {}
  virtual void refreshed(RefreshOutcome) {}
  virtual void dane_looked_up(const DaneReport&) {}
  virtual void alarm(AlarmKind) {}
};

}  // namespace mtasts::resolver
