#include "daemon/observer_metrics.hpp"

#include <string>

namespace mtasts::daemon {

namespace {

using resolver::DiscoveryFailure;
using Outcome = resolver::DiscoveryResult::Outcome;

constexpr std::array<Outcome, 5> kOutcomeList = {Outcome::policy, Outcome::unchanged,
                                                 Outcome::no_policy, Outcome::fetch_failed,
                                                 Outcome::temp_failure};

std::size_t dane_index(const resolver::DaneReport& report) {
  switch (report.verdict) {
    case dane::Verdict::none:
      return 0;
    case dane::Verdict::dane:
      return 1;
    case dane::Verdict::dane_only:
      return 2;
    case dane::Verdict::temp:
      break;
  }
  return report.bogus ? 4 : 3;
}

}  // namespace

const std::vector<double> ObserverMetrics::kStepBuckets = {
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30};

ObserverMetrics::ObserverMetrics(metrics::Registry& r) {
  const std::string outcome_help =
      "Finished network discoveries by outcome: policy (fetched), unchanged (TXT id as cached), "
      "no-policy, fetch-failed, temp-failure (DNS); background: a refresh no query waited on.";
  for (std::size_t background = 0; background < 2; ++background) {
    for (std::size_t i = 0; i < kOutcomes; ++i) {
      outcomes_[background * kOutcomes + i] =
          &r.counter("mtastsd_discoveries_finished_total", outcome_help,
                     {{"outcome", std::string(resolver::to_string(kOutcomeList[i]))},
                      {"background", background != 0 ? "true" : "false"}});
    }
  }
  for (std::size_t i = 1; i < kFailures; ++i) {
    failures_[i] = &r.counter(
        "mtastsd_discovery_failures_total",
        "Failed discoveries by class: DNS (dns-timeout, dns-servfail, dns-other, "
        "policy-host-nxdomain) and RFC 8460 section 4.3 result types (sts-policy-fetch-error, "
        "sts-policy-invalid, sts-webpki-invalid).",
        {{"failure", std::string(resolver::to_string(static_cast<DiscoveryFailure>(i)))}});
  }
  for (std::size_t i = 0; i < kRefreshes; ++i) {
    refreshes_[i] = &r.counter(
        "mtastsd_refreshes_total",
        "Refreshes of a cached policy by outcome: unchanged (same TXT id), updated (new policy), "
        "failed-kept (failed; the cached policy still applies).",
        {{"outcome", std::string(resolver::to_string(static_cast<resolver::RefreshOutcome>(i)))}});
  }
  for (std::size_t i = 0; i < kAlarms; ++i) {
    alarms_[i] = &r.counter(
        "mtastsd_downgrade_alarms_total",
        "Downgrade alarms raised for domains with an enforce policy, by kind.",
        {{"kind", std::string(resolver::to_string(static_cast<resolver::AlarmKind>(i)))}});
  }
  constexpr std::array<const char*, kDaneResults> kDaneNames = {"none", "dane", "dane-only", "temp",
                                                                "bogus"};
  for (std::size_t i = 0; i < kDaneResults; ++i) {
    dane_[i] = &r.counter("mtastsd_dane_results_total",
                          "Finished DANE lookups by result: none, dane, dane-only, temp, bogus "
                          "(temp because the validating resolver said SERVFAIL).",
                          {{"result", kDaneNames[i]}});
  }
  const std::string step_help =
      "Duration of each discovery step: dns (TXT record and the policy host's addresses), https "
      "(the policy fetch, when reached).";
  dns_ = &r.histogram("mtastsd_discovery_step_duration_seconds", step_help, kStepBuckets,
                      {{"step", "dns"}});
  https_ = &r.histogram("mtastsd_discovery_step_duration_seconds", step_help, kStepBuckets,
                        {{"step", "https"}});
  dane_duration_ = &r.histogram("mtastsd_dane_lookup_duration_seconds",
                                "Duration of DANE lookups (MX, then TLSA per host).", kStepBuckets);
}

void ObserverMetrics::discovered(const resolver::DiscoveryReport& report) {
  const auto outcome = static_cast<std::size_t>(report.outcome);
  if (outcome < kOutcomes) outcomes_[(report.background ? kOutcomes : 0) + outcome]->inc();
  const auto failure = static_cast<std::size_t>(report.failure);
  if (failure > 0 && failure < kFailures) failures_[failure]->inc();
  if (report.dns.count() > 0) dns_->observe(report.dns);
  if (report.https.count() > 0) https_->observe(report.https);
}

void ObserverMetrics::refreshed(resolver::RefreshOutcome outcome) {
  const auto i = static_cast<std::size_t>(outcome);
  if (i < kRefreshes) refreshes_[i]->inc();
}

void ObserverMetrics::dane_looked_up(const resolver::DaneReport& report) {
  dane_[dane_index(report)]->inc();
  if (report.duration.count() > 0) dane_duration_->observe(report.duration);
}

void ObserverMetrics::alarm(resolver::AlarmKind kind) {
  const auto i = static_cast<std::size_t>(kind);
  if (i < kAlarms) alarms_[i]->inc();
}

}  // namespace mtasts::daemon
