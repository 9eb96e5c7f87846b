// Deterministic simulation of the policy and DANE lifecycles (issue 16):
// PolicyResolver with DaneResolver (DANE first) and Refresher against simulated
// DNS, HTTPS, store and clock, driven by seeded
// random events: queries, publications and changes (id, mode, MX, max_age), DNS
// and HTTPS failures and hangs, prefetch, purge, restarts with the store kept,
// short and long clock moves, wall-clock steps back and forth (NTP, within the
// stores' clock-skew allowance), and a fleet: the store is the daemon's
// TieredStore over a shared tier (which goes down and comes back) and its local
// tier, and another fleet member writes the shared tier: genuine policies it
// fetched, forged downgrades (testing or none under the domain's id) and
// stretched expiries (past max_age); the local tier goes unreadable and comes
// back (reads fail, writes are kept: SqliteStore's retrying writer); each
// domain's DNSSEC state changes (unsigned, TLSA on every MX host, on some, bogus).
// After every event the invariants are checked:
//   - never NOTFOUND while the local tier holds an unexpired enforce policy
//     (memory is not the whole cache, the shared tier cannot take it back);
//   - an "OK secure" answer comes from a policy learned for that domain (by this
//     daemon or genuinely by the fleet) and not past its fetch time + max_age;
//   - TEMP only while the local tier cannot be read (or a query asked before it
//     came back), or while the domain's DANE lookups fail;
//   - "OK dane-only" / "OK dane" only from a DNSSEC state the domain had within a
//     cached result's TTL and stale_ttl; never NOTFOUND once its DANE lookups
//     have failed for longer than any cached result lives;
//   - every query is answered by its zone's deadline;
//   - running and queued discoveries and the memory cache stay within bounds.
// A failure prints the seed; MTASTSD_SIM_SEED=N replays exactly that sequence,
// MTASTSD_SIM_EVENTS sets the events per seed. Failing seeds found once are kept
// in kRegressionSeeds and run every time.
#include <doctest/doctest.h>

#include <chrono>
#include <cstdlib>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include <spdlog/spdlog.h>

#include "cache/tiered_store.hpp"
#include "lifecycle_fakes.hpp"
#include "resolver/dane_resolver.hpp"
#include "resolver/policy_resolver.hpp"
#include "resolver/refresher.hpp"
#include "sts/answer.hpp"
#include "sts/query_key.hpp"

namespace {

using namespace mtasts;
using namespace mtasts::resolver;
using namespace mtasts::resolver::testing;
using namespace std::chrono_literals;

constexpr auto kZoneTimeout = 3000ms;
// How long a DANE result may answer after the DNSSEC state it came from ended:
// its TTL (the fake's 300 s, within [min_ttl, max_ttl]), then stale_ttl (3600 s)
// while lookups fail, plus the wall clock's NTP steps (250 s) and a margin.
constexpr std::chrono::seconds kDaneWindow{300 + 3600 + 250 + 150};
// Sequences that once broke an invariant, replayed on every run: seed, events.
struct Regression {
  std::uint64_t seed;
  int events;
};
const std::vector<Regression> kRegressions = {
    // A refresh ending "id unchanged" after its domain was evicted answered its
    // waiters NOTFOUND: `unchanged` now also reads the store when memory is empty.
    {7, 39000},
};

enum class Fault { none, fail, hang };

// The domain's DNSSEC state for DANE (RFC 7672): unsigned, every MX host with a
// usable TLSA record, some of them, or lookups failing (bogus: SERVFAIL).
enum class Dane { unsigned_, full, partial, failing };
constexpr int kDaneStates = 4;

struct Domain {
  std::string name;
  bool published = false;
  int id = 0;
  std::string mode = "enforce";
  std::string mx;
  std::uint32_t max_age = 86400;
  Fault dns = Fault::none;
  Fault https = Fault::none;  // fail: connection refused
  Dane dane = Dane::unsigned_;
  MonoTime dane_since{};                 // when the current DANE state began
  MonoTime dane_left[kDaneStates] = {};  // when each state last ended
  bool dane_ever[kDaneStates] = {true, false, false, false};
  // In `state` now, or until less than `window` before `at`.
  bool dane_recent(Dane state, MonoTime at, std::chrono::seconds window) const {
    const auto i = static_cast<int>(state);
    return dane == state || (dane_ever[i] && at - dane_left[i] <= window);
  }
};

struct Query {
  std::size_t domain;
  MonoTime asked;
  int generation;  // restarts drop the queries of the process before
  bool answered = false;
};

class Simulation {
 public:
  explicit Simulation(std::uint64_t seed) : seed_(seed), random_(seed) {
    settings_.cache_size = 3;
    settings_.max_concurrent = 3;
    settings_.max_queued = 3;
    settings_.cache_grace = 60;
    settings_.negative_ttl = 300;
    settings_.retry_interval = 120;
    settings_.temp_failure_ttl = 30;
    settings_.fetch_timeout = 5000ms;
    for (int i = 0; i < 12; ++i) {
      Domain d;
      d.name = "d" + std::to_string(i) + ".test";
      domains_.push_back(d);
    }
    auto shared = std::make_unique<FakeStore>(time_.timers);
    auto local = std::make_unique<FakeStore>(time_.timers);
    shared_ = shared.get();
    local_ = local.get();
    local_->keeps_writes = true;  // as SqliteStore's writer, which retries
    store_ = std::make_unique<cache::TieredStore>(std::move(shared), std::move(local), &time_.wall);
    start();
  }
  ~Simulation() {
    refresher_.reset();
    policies_.reset();
    dane_.reset();
    store_.reset();
  }

  // Runs `events` events; returns the first violated invariant, or "".
  struct Counts {
    std::uint64_t secure = 0, notfound = 0, notfound_guarded = 0, restarts = 0, temp = 0,
                  temp_guarded = 0, dane_only = 0, dane_partial = 0, dane_temp = 0;
  } counts;

  std::string run(int events) {
    for (event_ = 0; event_ < events && failure_.empty(); ++event_) {
      step();
      check_bounds();
      check_deadlines();
    }
    return failure_;
  }

 private:
  std::uint64_t pick(std::uint64_t n) {
    return std::uniform_int_distribution<std::uint64_t>(0, n - 1)(random_);
  }

  void start() {
    ++generation_;
    dane_ = std::make_unique<DaneResolver>(time_.timers, dns_, time_.wall, dane_settings_,
                                           store_.get());
    dane_->load_store();
    policies_ = std::make_unique<PolicyResolver>(time_.timers, dns_, https_, time_.wall,
                                                 std::vector<Zone>{Zone{"", {}, kZoneTimeout}},
                                                 settings_, store_.get(), dane_.get());
    policies_->stored().load();
    refresher_ = std::make_unique<Refresher>(time_.timers, time_.wall, *policies_,
                                             static_cast<std::uint32_t>(seed_));
    ProactiveSettings proactive;
    proactive.interval = 600;
    proactive.concurrency_limit = 2;
    refresher_->start(proactive);
  }

  void apply(Domain& d) {
    if (!d.published) {
      dns_.unpublish(d.name);
    } else {
      dns_.publish(d.name, std::to_string(d.id));
      https_.serve(d.name, "version: STSv1\nmode: " + d.mode + "\nmx: " + d.mx +
                               "\nmax_age: " + std::to_string(d.max_age) + "\n");
    }
    if (d.dns == Fault::fail) dns_.fail(d.name);
    if (d.dns == Fault::hang) {
      dns_.hang("_mta-sts." + d.name);
    } else {
      dns_.release("_mta-sts." + d.name);
    }
    if (d.https == Fault::fail) https_.refuse(d.name);
    if (d.https == Fault::hang) {
      https_.hang(d.name);
    } else {
      https_.unhang(d.name);
    }
  }

  void step() {
    const auto roll = pick(100);
    auto& d = domains_[pick(domains_.size())];
    if (roll < 45) return ask(static_cast<std::size_t>(&d - domains_.data()));
    if (roll < 48) return set_dane(d, static_cast<Dane>(pick(kDaneStates)));
    if (roll < 60) return time_.advance(std::chrono::milliseconds(1 + pick(800)));
    if (roll < 66) return time_.advance_s(static_cast<std::int64_t>(1 + pick(4000)));
    if (roll < 74) {  // a new policy (§3.1: with a new id)
      static const char* modes[] = {"enforce", "enforce", "enforce", "testing", "none"};
      static const std::uint32_t ages[] = {0, 30, 600, 3600, 86400, 604800};
      d.published = true;
      d.id = ++ids_;
      d.mode = modes[pick(5)];
      d.mx = "mx" + std::to_string(pick(3)) + "." + d.name;
      d.max_age = ages[pick(6)];
      return apply(d);
    }
    if (roll < 77) {
      d.published = false;
      return apply(d);
    }
    if (roll < 84) {
      d.dns = static_cast<Fault>(pick(3));
      return apply(d);
    }
    if (roll < 91) {
      d.https = static_cast<Fault>(pick(3));
      return apply(d);
    }
    if (roll < 94) {
      const auto kind = pick(9);
      if (kind < 4) return policies_->prefetch(d.name), void();
      if (kind == 8) {
        // The local tier cannot be read or written (busy, I/O error, full): it
        // keeps what it holds, but says so instead of "nothing" (issue 16).
        if (local_->down) local_up_at_ = time_.timers.now();
        local_->down = !local_->down;
        return;
      }
      return fleet(d, kind - 4);
    }
    if (roll < 95) {
      policies_->purge(d.name, d.name);
      return;
    }
    if (roll < 95 + (pick(4) == 0 ? 1 : 0)) {  // a restart: the store stays, memory and flights go
      refresher_.reset();
      policies_.reset();
      dane_.reset();
      ++counts.restarts;
      return start();
    }
    if (pick(8) == 0) {
      // An NTP step either way, the wall clock kept within the stores'
      // kMaxClockSkew of the true time (beyond it a record is refused as forged).
      const auto target = -static_cast<std::int64_t>(pick(250));
      return time_.step_wall(target - time_.wall_offset());
    }
    time_.advance(std::chrono::milliseconds(pick(20)));
  }

  void set_dane(Domain& d, Dane state) {
    const auto now = time_.timers.now();
    if (state != d.dane) {
      d.dane_left[static_cast<int>(d.dane)] = now;
      d.dane_since = now;
      d.dane = state;
      d.dane_ever[static_cast<int>(state)] = true;
    }
    const std::vector<std::string> hosts{"mx-a." + d.name, "mx-b." + d.name};
    switch (state) {
      case Dane::unsigned_:
        return dns_.unsign_mx(d.name);
      case Dane::full:
        return dns_.sign_mx(d.name, hosts, {true, true});
      case Dane::partial:
        return dns_.sign_mx(d.name, hosts, {true, false});
      case Dane::failing:
        return dns_.fail_mx(d.name);
    }
  }

  // Another fleet member at the shared tier: 0 a genuine fetch of what the
  // domain publishes, 1 a forged downgrade under its id, 2 a stretched expiry,
  // 3 the shared tier going down or coming back.
  void fleet(const Domain& d, std::uint64_t kind) {
    if (kind == 3) {
      shared_->down = !shared_->down;
      return;
    }
    if (!d.published) return;
    const auto now = time_.wall.now();
    cache::CachedPolicy p;
    p.domain = d.name;
    p.txt_id = std::to_string(d.id);
    p.body = "version: STSv1\nmode: " + d.mode + "\nmx: " + d.mx +
             "\nmax_age: " + std::to_string(d.max_age) + "\n";
    if (kind == 1) {
      p.body = "version: STSv1\nmode: " + std::string(pick(2) == 0 ? "none" : "testing") +
               "\nmx: " + d.mx + "\nmax_age: " + std::to_string(d.max_age) + "\n";
    }
    auto parsed = sts::parse_policy(p.body);
    if (!parsed.policy) return;
    p.policy = *parsed.policy;
    p.fetched_at = now;
    p.checked_at = now;
    p.expires_at = now + d.max_age;
    if (kind == 2) p.expires_at = now + 100 * static_cast<std::int64_t>(d.max_age) + 1'000'000;
    if (shared_->down) return;
    shared_->policies[d.name] = p;
    if (kind == 0) fleet_learned_[d.name].push_back(p);
  }

  void ask(std::size_t index) {
    const std::size_t q = queries_.size();
    queries_.push_back({index, time_.timers.now(), generation_});
    const auto key = sts::parse_query_key(domains_[index].name);
    policies_->answer(0, key, [this, q](std::string_view text) { check_answer(q, text); });
  }

  void fail(const std::string& what) {
    if (failure_.empty()) {
      spdlog::error("simulation: invariant broken here: {}", what);  // for replays
      failure_ = "seed " + std::to_string(seed_) + ", event " + std::to_string(event_) + ": " +
                 what + " (replay: MTASTSD_SIM_SEED=" + std::to_string(seed_) + ")";
    }
  }

  void check_answer(std::size_t q, std::string_view text) {
    auto& query = queries_[q];
    const auto& name = domains_[query.domain].name;
    if (query.answered) return fail(name + ": answered twice");
    query.answered = true;
    const auto now = time_.wall.now();
    if (time_.timers.now() > query.asked + kZoneTimeout) {
      fail(name + ": answered after the zone's deadline");
    }
    // "Not yet seen expire": a wall clock stepped back does not revive a policy
    // the daemon already saw expire, so expiry counts against the latest time seen.
    latest_wall_ = std::max(latest_wall_, now);
    auto stored = local_->policies.find(name);
    const bool enforce_stored = stored != local_->policies.end() &&
                                stored->second.policy.mode == sts::Mode::enforce &&
                                latest_wall_ < stored->second.expires_at;
    const auto& d = domains_[query.domain];
    const auto mono = time_.timers.now();
    if (text == "TEMP ") {
      // Only while the local tier could not say what it holds, or DANE lookups
      // failed with nothing usable cached (dane.on_failure: temp).
      ++counts.temp;
      if (enforce_stored) ++counts.temp_guarded;
      const bool dane_failing = d.dane_recent(Dane::failing, mono, kDaneWindow);
      if (dane_failing) ++counts.dane_temp;
      if (!local_->down && query.asked > local_up_at_ && !dane_failing) {
        fail(name + ": TEMP while every store tier could answer and DANE lookups worked");
      }
      return;
    }
    // DANE answers come from a DNSSEC state the domain really had, within the
    // cached result's TTL and stale_ttl (RFC 7672; a forged one would be a
    // downgrade of what Postfix checks).
    if (text == "OK dane-only") {
      ++counts.dane_only;
      if (!d.dane_recent(Dane::full, mono, kDaneWindow))
        fail(name + ": dane-only without every MX host having had TLSA lately");
      return;
    }
    if (text == "OK dane") {
      ++counts.dane_partial;
      if (!d.dane_recent(Dane::partial, mono, kDaneWindow))
        fail(name + ": dane without some MX host having had TLSA lately");
      return;
    }
    if (text == sts::kNotFound) {
      ++counts.notfound;
      // DANE failing for longer than any cached result lives: never NOTFOUND
      // (bogus DNS is the attack; on_failure temp, or a cached enforce policy).
      if (d.dane == Dane::failing && d.dane_since + kDaneWindow < query.asked) {
        fail(name + ": NOTFOUND while its DANE lookups fail (bogus) and nothing is cached");
      }
      if (enforce_stored) {
        fail(name + ": NOTFOUND while the store holds an unexpired enforce policy (id " +
             stored->second.txt_id + ", expires in " +
             std::to_string(stored->second.expires_at - now) + " s)");
      }
      return;
    }
    if (enforce_stored) ++counts.notfound_guarded;  // an answer the invariant looked at
    ++counts.secure;
    if (text.substr(0, 10) != "OK secure ")
      return fail(name + ": unexpected answer '" + std::string(text) + "'");
    // From a learned enforce policy of this domain, within its max_age (§3.2:
    // counted from the fetch, whatever expiry a store may claim).
    auto from = [&](const std::vector<cache::CachedPolicy>& learned) {
      for (const auto& p : learned) {
        if (p.policy.mode != sts::Mode::enforce) continue;
        if (now > std::min(p.expires_at, p.fetched_at + std::int64_t{p.policy.max_age})) continue;
        if (sts::render_policy_answer(p.policy, name, {}) == text) return true;
      }
      return false;
    };
    if (from(local_->history[name]) || from(fleet_learned_[name])) return;
    fail(name + ": '" + std::string(text) + "' from no unexpired learned policy");
  }

  void check_deadlines() {
    latest_wall_ = std::max(latest_wall_, time_.wall.now());
    const auto now = time_.timers.now();
    for (auto& q : queries_) {
      if (q.answered || q.generation != generation_) continue;
      if (now > q.asked + kZoneTimeout) {
        q.answered = true;
        fail(domains_[q.domain].name + ": no answer by the zone's deadline");
      }
    }
  }

  void check_bounds() {
    if (policies_->running() > settings_.max_concurrent)
      fail("more discoveries than max_concurrent");
    if (policies_->queued() > settings_.max_queued) fail("more queued than max_queued");
    if (policies_->cache().size() > settings_.cache_size) fail("memory cache above cache_size");
  }

  std::uint64_t seed_;
  std::mt19937_64 random_;
  FakeTime time_;
  FakeDns dns_{time_.timers};
  FakeHttps https_{time_.timers};
  FakeStore* shared_ = nullptr;  // owned by store_
  FakeStore* local_ = nullptr;
  std::unique_ptr<cache::TieredStore> store_;
  // Policies another fleet member genuinely fetched and wrote to the shared tier.
  std::map<std::string, std::vector<cache::CachedPolicy>> fleet_learned_;
  ResolverSettings settings_;
  std::vector<Domain> domains_;
  DaneSettings dane_settings_;  // defaults: on_failure temp, TTLs bounded to [60, 3600] s
  std::unique_ptr<DaneResolver> dane_;
  std::unique_ptr<PolicyResolver> policies_;
  std::unique_ptr<Refresher> refresher_;
  std::vector<Query> queries_;
  int generation_ = 0;
  std::int64_t latest_wall_ = 0;
  MonoTime local_up_at_{};  // when the local tier last came back
  int ids_ = 0;
  int event_ = 0;
  std::string failure_;
};

std::uint64_t env_number(const char* name, std::uint64_t fallback) {
  const char* value = std::getenv(name);
  return value != nullptr && *value != '\0' ? std::strtoull(value, nullptr, 10) : fallback;
}

struct QuietLogs {
  // MTASTSD_SIM_LOG=1 keeps the lifecycle's log lines, to read a replay.
  QuietLogs() : level(spdlog::get_level()) {
    if (std::getenv("MTASTSD_SIM_LOG") == nullptr) spdlog::set_level(spdlog::level::off);
  }
  ~QuietLogs() { spdlog::set_level(level); }
  spdlog::level::level_enum level;
};

}  // namespace

TEST_CASE("simulation: no downgrade from our own state, answers in time, bounds held") {
  QuietLogs quiet;
  const auto events = static_cast<int>(env_number("MTASTSD_SIM_EVENTS", 10000));
  std::vector<Regression> runs;
  if (const auto one = env_number("MTASTSD_SIM_SEED", 0); one != 0) {
    runs = {{one, events}};
  } else {
    runs = kRegressions;
    for (std::uint64_t s = 1; s <= env_number("MTASTSD_SIM_SEEDS", 10); ++s)
      runs.push_back({s, events});
  }
  Simulation::Counts total;
  for (const auto& [seed, count] : runs) {
    Simulation sim(seed);
    const auto failure = sim.run(count);
    INFO(failure);
    CHECK(failure.empty());
    total.secure += sim.counts.secure;
    total.notfound += sim.counts.notfound;
    total.notfound_guarded += sim.counts.notfound_guarded;
    total.restarts += sim.counts.restarts;
    total.temp += sim.counts.temp;
    total.temp_guarded += sim.counts.temp_guarded;
    total.dane_only += sim.counts.dane_only;
    total.dane_partial += sim.counts.dane_partial;
    total.dane_temp += sim.counts.dane_temp;
  }
  // The sequences must reach the states the invariants are about.
  MESSAGE(runs.size() << " sequences, " << events << " events each: " << total.secure
                      << " OK secure (" << total.notfound_guarded
                      << " with an enforce policy stored), " << total.notfound << " NOTFOUND, "
                      << total.restarts << " restarts, " << total.temp << " TEMP ("
                      << total.temp_guarded << " with an enforce policy stored), "
                      << total.dane_only << " OK dane-only, " << total.dane_partial << " OK dane, "
                      << total.dane_temp << " TEMP with DANE failing");
  CHECK(total.notfound_guarded > 0);
  CHECK(total.restarts > 0);
  CHECK(total.temp_guarded > 0);
  CHECK(total.dane_only > 0);
  CHECK(total.dane_partial > 0);
  CHECK(total.dane_temp > 0);
}
