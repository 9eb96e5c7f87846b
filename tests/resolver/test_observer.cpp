// What the lifecycles report to their observer (the daemon's metrics): each
// discovery classed by outcome and failure (DNS kinds, RFC 8460 §4.3 result
// types), background or not, with its step durations; refresh outcomes; DANE
// lookups with bogus told apart. Fake DNS, HTTPS and time.
#include <doctest/doctest.h>

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "lifecycle_world.hpp"
#include "resolver/dane_resolver.hpp"
#include "resolver/observer.hpp"
#include "resolver/policy_resolver.hpp"
#include "sts/query_key.hpp"

namespace {

using namespace mtasts;
using namespace mtasts::resolver;
using namespace mtasts::resolver::testing;
using namespace std::chrono_literals;

struct Recorder final : Observer {
  std::vector<DiscoveryReport> discoveries;
  std::vector<RefreshOutcome> refreshes;
  std::vector<DaneReport> dane;
  void discovered(const DiscoveryReport& r) override { discoveries.push_back(r); }
  void refreshed(RefreshOutcome r) override { refreshes.push_back(r); }
  void dane_looked_up(const DaneReport& r) override { dane.push_back(r); }
};

LifecycleSetup setup(bool with_dane) {
  LifecycleSetup setup;
  setup.settings.cache_grace = 60;
  setup.settings.retry_interval = 60;
  if (with_dane) setup.dane = DaneSettings{};
  return setup;
}

struct World : LifecycleWorld {
  Recorder seen;
  explicit World(bool with_dane = false) : LifecycleWorld(setup(with_dane)) {
    policies->set_observer(&seen);
  }
  DiscoveryReport last() {
    REQUIRE(!seen.discoveries.empty());
    return seen.discoveries.back();
  }
};

using Outcome = DiscoveryResult::Outcome;

}  // namespace

TEST_CASE("observer: every discovery failure is classed (DNS kind, RFC 8460 result type)") {
  World w;
  struct Row {
    const char* domain;
    std::function<void(World&)> arrange;
    Outcome outcome;
    DiscoveryFailure failure;
  };
  const std::vector<Row> rows = {
      {"servfail.test", [](World& x) { x.dns.fail("servfail.test"); }, Outcome::temp_failure,
       DiscoveryFailure::dns_servfail},
      {"timeout.test", [](World& x) { x.dns.fail("timeout.test", dns::Cause::timeout); },
       Outcome::temp_failure, DiscoveryFailure::dns_timeout},
      {"refused.test", [](World& x) { x.dns.fail("refused.test", dns::Cause::refused); },
       Outcome::temp_failure, DiscoveryFailure::dns_other},
      {"nohost.test",
       [](World& x) {
         x.dns.publish("nohost.test", "1");
         x.dns.drop_policy_host("nohost.test");
       },
       Outcome::fetch_failed, DiscoveryFailure::policy_host_nxdomain},
      {"badcert.test",
       [](World& x) {
         x.dns.publish("badcert.test", "1");
         x.https.reject_certificate("badcert.test");
       },
       Outcome::fetch_failed, DiscoveryFailure::sts_webpki_invalid},
      {"refusing.test",
       [](World& x) {
         x.dns.publish("refusing.test", "1");
         x.https.refuse("refusing.test");
       },
       Outcome::fetch_failed, DiscoveryFailure::sts_policy_fetch_error},
      {"invalid.test",
       [](World& x) {
         x.dns.publish("invalid.test", "1");
         x.https.serve("invalid.test", "version: STSv1\nmode: enforce\nmax_age: 86400\n");
       },
       Outcome::fetch_failed, DiscoveryFailure::sts_policy_invalid},
      {"none.test", [](World&) {}, Outcome::no_policy, DiscoveryFailure::none},
      {"good.test",
       [](World& x) {
         x.dns.publish("good.test", "1");
         x.https.serve("good.test", policy_body("enforce", "mx.good.test"));
       },
       Outcome::policy, DiscoveryFailure::none},
  };
  for (const auto& row : rows) {
    CAPTURE(row.domain);
    row.arrange(w);
    w.query(row.domain);
    const auto report = w.last();
    CHECK(report.outcome == row.outcome);
    CHECK(report.failure == row.failure);
    CHECK_FALSE(report.background);
  }
  CHECK(w.seen.discoveries.size() == rows.size());
  CHECK(w.seen.refreshes.empty());  // nothing was held before: no refresh
}

TEST_CASE("observer: step durations come from the lifecycle's clock") {
  World w;
  w.dns.publish("slow.test", "1");
  w.https.serve("slow.test", policy_body("enforce", "mx.slow.test"));
  w.dns.hang("_mta-sts.slow.test");
  auto answer = std::make_shared<std::optional<std::string>>();
  w.policies->answer(0, sts::parse_query_key("slow.test"),
                     [answer](std::string_view text) { *answer = std::string(text); });
  w.time.advance(700ms);
  w.dns.release("_mta-sts.slow.test");
  w.time.advance(10ms);
  REQUIRE(answer->has_value());
  const auto report = w.last();
  CHECK(report.outcome == Outcome::policy);
  CHECK(report.dns >= 700ms);
  CHECK(report.dns < 800ms);
  CHECK(report.https < 100ms);
}

TEST_CASE("observer: refresh outcomes (unchanged id, updated, failed with the policy kept)") {
  World w;
  w.dns.publish("a.test", "1");
  w.https.serve("a.test", policy_body("enforce", "mx.a.test"));
  w.query("a.test");
  REQUIRE(w.seen.refreshes.empty());

  w.time.advance_s(61);  // past cache_grace: the next hit revalidates in the background
  w.query("a.test");
  w.time.advance(10ms);
  REQUIRE(w.seen.refreshes.size() == 1);
  CHECK(w.seen.refreshes.back() == RefreshOutcome::unchanged);
  CHECK(w.last().background);
  CHECK(w.last().outcome == Outcome::unchanged);

  w.dns.publish("a.test", "2");
  w.https.serve("a.test", policy_body("enforce", "mx2.a.test"));
  w.time.advance_s(61);
  w.query("a.test");
  w.time.advance(10ms);
  REQUIRE(w.seen.refreshes.size() == 2);
  CHECK(w.seen.refreshes.back() == RefreshOutcome::updated);

  w.dns.publish("a.test", "3");
  w.https.refuse("a.test");
  w.time.advance_s(61);
  w.query("a.test");
  w.time.advance(10ms);
  REQUIRE(w.seen.refreshes.size() == 3);
  CHECK(w.seen.refreshes.back() == RefreshOutcome::failed_kept);
  CHECK(w.last().failure == DiscoveryFailure::sts_policy_fetch_error);
}

TEST_CASE("observer: DANE lookups by verdict, a SERVFAIL told apart as bogus") {
  World w(/*with_dane=*/true);
  w.dns.sign_mx("a.test", {"mx1.a.test"}, {true});
  CHECK(w.query("a.test") == "OK dane-only");
  REQUIRE(w.seen.dane.size() == 1);
  CHECK(w.seen.dane.back().verdict == dane::Verdict::dane_only);
  CHECK_FALSE(w.seen.dane.back().bogus);

  w.dns.fail_mx("b.test");
  CHECK(w.query("b.test") == "TEMP ");
  REQUIRE(w.seen.dane.size() == 2);
  CHECK(w.seen.dane.back().verdict == dane::Verdict::temp);
  CHECK(w.seen.dane.back().bogus);
}
