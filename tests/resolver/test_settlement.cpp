// Settlement alone: what a finished discovery does to memory, the store, the
// alarms and the observer, with an explicit clock and the in-memory fake store.
#include "resolver/settlement.hpp"

#include <doctest/doctest.h>

#include <map>

#include "lifecycle_fakes.hpp"
#include "support/log_capture.hpp"

using mtasts::cache::CachedPolicy;
using mtasts::resolver::AlarmBoard;
using mtasts::resolver::AlarmKind;
using mtasts::resolver::DiscoveryResult;
using mtasts::resolver::DomainCache;
using mtasts::resolver::ManualTimers;
using mtasts::resolver::Observer;
using mtasts::resolver::RefreshOutcome;
using mtasts::resolver::ResolverSettings;
using mtasts::resolver::ResolverStats;
using mtasts::resolver::Settlement;
using mtasts::resolver::testing::FakeStore;
using mtasts::resolver::testing::policy_body;
using Kind = DomainCache::Lookup::Kind;
using Outcome = DiscoveryResult::Outcome;

namespace {

constexpr std::int64_t T0 = 1'700'000'000;

struct Counting final : Observer {
  std::map<RefreshOutcome, int> refreshes;
  void refreshed(RefreshOutcome outcome) override { ++refreshes[outcome]; }
};

// The parts a PolicyResolver owns, wired as it wires them.
struct Parts {
  ManualTimers timers;
  FakeStore store{timers};
  DomainCache cache{100, {mtasts::sts::AnswerOptions{}}};
  AlarmBoard alarms;
  ResolverSettings settings;
  ResolverStats stats;
  Counting observer;
  Settlement settlement{cache, &store, alarms, settings, stats};
  Parts() {
    settlement.set_observer(&observer);
    alarms.set_observer(&observer);
  }
  Kind lookup(const std::string& domain, std::int64_t now) {
    return cache.lookup(domain, 0, now, settings.cache_grace).kind;
  }
};

DiscoveryResult fetched(const std::string& mode, const std::string& id,
                        std::uint32_t max_age = 86400) {
  DiscoveryResult r;
  r.outcome = Outcome::policy;
  r.txt_id = id;
  r.body = policy_body(mode, "mx1.example.com", max_age);
  auto parsed = mtasts::sts::parse_policy(r.body);
  REQUIRE(parsed.policy);
  r.policy = *parsed.policy;
  return r;
}

DiscoveryResult failed(Outcome outcome, const std::string& reason) {
  DiscoveryResult r;
  r.outcome = outcome;
  r.reason = reason;
  return r;
}

}  // namespace

TEST_CASE(
    "settlement: a fetched policy is learned into memory and the store; §8.3 none "
    "replaces enforce and raises the alarm") {
  Parts p;
  p.settlement.learn("example.com", fetched("enforce", "id1"), T0);
  CHECK(p.lookup("example.com", T0) == Kind::hit);
  REQUIRE(p.store.policies.count("example.com") == 1);
  CHECK(p.store.policies["example.com"].expires_at == T0 + 86400);
  CHECK(p.observer.refreshes.empty());  // nothing was held: not a refresh
  CHECK(p.alarms.size() == 0);

  p.settlement.learn("example.com", fetched("none", "id2"), T0 + 100);
  const auto* held = p.cache.policy("example.com", T0 + 100);
  REQUIRE(held != nullptr);
  CHECK(held->txt_id == "id2");
  CHECK(held->policy.mode == mtasts::sts::Mode::none);
  CHECK(p.store.policies["example.com"].txt_id == "id2");
  CHECK(p.observer.refreshes[RefreshOutcome::updated] == 1);
  CHECK(p.alarms.has("example.com", AlarmKind::weaker_policy));
}

TEST_CASE(
    "settlement: an unchanged TXT id confirms the policy in memory and in the store, and "
    "clears the alarms of its absence") {
  Parts p;
  p.settlement.learn("example.com", fetched("enforce", "id1"), T0);
  const auto kept = *p.cache.policy("example.com", T0);
  p.settlement.keep("example.com", failed(Outcome::no_policy, "no TXT record"), kept, T0 + 10);
  REQUIRE(p.alarms.has("example.com", AlarmKind::txt_removed));
  p.settlement.keep("example.com", failed(Outcome::unchanged, ""), kept, T0 + 5000);
  CHECK_FALSE(p.alarms.has("example.com", AlarmKind::txt_removed));  // the record is back
  CHECK(p.cache.policy("example.com", T0 + 5000)->checked_at == T0 + 5000);
  CHECK(p.store.policies["example.com"].checked_at == T0 + 5000);
  CHECK(p.observer.refreshes[RefreshOutcome::unchanged] == 1);
}

TEST_CASE("settlement: a failed refresh keeps the policy (§3.3), counts the failures and warns") {
  mtasts_test::LogCapture log;
  Parts p;
  p.settlement.learn("example.com", fetched("enforce", "id1"), T0);
  const auto kept = *p.cache.policy("example.com", T0);
  p.settlement.keep("example.com", failed(Outcome::fetch_failed, "HTTP 500"), kept, T0 + 10);
  p.settlement.keep("example.com", failed(Outcome::no_policy, "no TXT record"), kept, T0 + 400);
  CHECK(p.lookup("example.com", T0 + 400) == Kind::hit);  // still applies
  CHECK(p.observer.refreshes[RefreshOutcome::failed_kept] == 2);
  CHECK(log.contains("refresh failed (HTTP 500); keeping cached mode enforce policy"));
  CHECK(log.contains("2 consecutive failure(s)"));
  CHECK(p.alarms.has("example.com", AlarmKind::txt_removed));
  CHECK(p.store.policies["example.com"].txt_id == "id1");
}

TEST_CASE("settlement: 'no policy' is remembered for as long as its cause says") {
  Parts p;
  p.settlement.remember_none("dns.example", failed(Outcome::temp_failure, "SERVFAIL"), T0);
  p.settlement.remember_none("none.example", failed(Outcome::no_policy, "no TXT"), T0);
  p.settlement.remember_none("bad.example", failed(Outcome::fetch_failed, "HTTP 404"), T0);
  const auto temp = static_cast<std::int64_t>(p.settings.temp_failure_ttl);
  const auto negative = static_cast<std::int64_t>(p.settings.negative_ttl);
  const auto retry = static_cast<std::int64_t>(p.settings.retry_interval);
  CHECK(p.lookup("dns.example", T0 + temp - 1) == Kind::negative);
  CHECK(p.lookup("dns.example", T0 + temp + 1) == Kind::miss);
  CHECK(p.lookup("none.example", T0 + negative - 1) == Kind::negative);
  CHECK(p.lookup("none.example", T0 + negative + 1) == Kind::miss);
  CHECK(p.lookup("bad.example", T0 + retry - 1) == Kind::negative);
  CHECK(p.store.policies.empty());  // "no policy" is memory's only
}

TEST_CASE(
    "settlement: a failure while the store cannot tell is marked for TEMP and not "
    "remembered") {
  mtasts_test::LogCapture log;
  Parts p;
  auto result = failed(Outcome::no_policy, "no TXT record");
  p.settlement.store_unknown("example.com", result, "redis 127.0.0.1:6379: not connected");
  CHECK(result.store_unknown);
  CHECK(result.reason == "no TXT record; redis 127.0.0.1:6379: not connected");
  CHECK(p.stats.store_unknown_temp == 1);
  CHECK(p.lookup("example.com", T0) == Kind::miss);  // the next query asks the store again
  CHECK(log.contains("so the answer is TEMP, not NOTFOUND"));

  // A fetched policy or an unchanged id is an answer in itself.
  auto ok = fetched("enforce", "id1");
  p.settlement.store_unknown("example.com", ok, "down");
  CHECK_FALSE(ok.store_unknown);
  CHECK(p.stats.store_unknown_temp == 1);
}
