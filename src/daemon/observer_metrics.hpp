#pragma once
// The lifecycle's Observer (resolver/observer.hpp) as Prometheus series:
// discoveries by outcome and failure class (RFC 8460 §4.3 names where they
// apply), refreshes by outcome, DANE results, downgrade alarms, and how long
// each discovery step took. Every label combination is created up front:
// an event is an array index and a relaxed atomic add.
#include <array>
#include <cstddef>

#include "metrics/registry.hpp"
#include "resolver/discovery.hpp"
#include "resolver/observer.hpp"

namespace mtasts::daemon {

class ObserverMetrics final : public resolver::Observer {
 public:
  // Seconds: a DNS answer in a millisecond to a policy fetch near its timeout.
  static const std::vector<double> kStepBuckets;

  explicit ObserverMetrics(metrics::Registry& registry);

  void discovered(const resolver::DiscoveryReport& report) override;
  void refreshed(resolver::RefreshOutcome outcome) override;
  void dane_looked_up(const resolver::DaneReport& report) override;
  void alarm(resolver::AlarmKind kind) override;

 private:
  static constexpr std::size_t kOutcomes = 5;  // DiscoveryResult::Outcome
  static constexpr std::size_t kFailures =
      static_cast<std::size_t>(resolver::DiscoveryFailure::count);
  static constexpr std::size_t kRefreshes =
      static_cast<std::size_t>(resolver::RefreshOutcome::count);
  static constexpr std::size_t kAlarms = static_cast<std::size_t>(resolver::AlarmKind::count);
  static constexpr std::size_t kDaneResults = 5;  // none, dane, dane-only, temp, bogus

  std::array<metrics::Counter*, 2 * kOutcomes> outcomes_{};  // [background][outcome]
  std::array<metrics::Counter*, kFailures> failures_{};      // [0] (none) unused
  std::array<metrics::Counter*, kRefreshes> refreshes_{};
  std::array<metrics::Counter*, kAlarms> alarms_{};
  std::array<metrics::Counter*, kDaneResults> dane_{};
  metrics::Histogram* dns_ = nullptr;
  metrics::Histogram* https_ = nullptr;
  metrics::Histogram* dane_duration_ = nullptr;
};

}  // namespace mtasts::daemon
