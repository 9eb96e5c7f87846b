// The policy lifecycle (PolicyResolver, Refresher) against in-memory DNS,
// HTTPS, store and time: single flight, queue bounds, per-query deadlines,
// negative caching, back-off, TXT id checks, stale-while-revalidate, proactive
// refresh, the store read on a memory miss, and the store as the truth until
// max_age (issue 16). No sockets, no sleeping.
#include <doctest/doctest.h>

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "lifecycle_world.hpp"
#include "resolver/policy_resolver.hpp"
#include "resolver/refresher.hpp"
#include "sts/query_key.hpp"

namespace {

using namespace mtasts;
using namespace mtasts::resolver;
using namespace mtasts::resolver::testing;
using namespace std::chrono_literals;

const std::string kSecure = "OK secure match=mx.a.test servername=hostname";

struct World : LifecycleWorld {
  explicit World(ResolverSettings settings = {}, bool with_store = false)
      : LifecycleWorld({settings, with_store}) {}

  void publish(const std::string& domain, const std::string& id,
               const std::string& mode = "enforce", std::uint32_t max_age = 86400) {
    dns.publish(domain, id);
    https.serve(domain, policy_body(mode, "mx." + domain, max_age));
  }
};

std::string secure_for(const std::string& domain) {
  return "OK secure match=mx." + domain + " servername=hostname";
}

cache::CachedPolicy stored_policy(const std::string& domain, const std::string& id,
                                  std::int64_t fetched_at, std::uint32_t max_age = 86400) {
  cache::CachedPolicy p;
  p.domain = domain;
  p.txt_id = id;
  p.body = policy_body("enforce", "mx." + domain, max_age);
  p.policy = *sts::parse_policy(p.body).policy;
  p.fetched_at = fetched_at;
  p.checked_at = fetched_at;
  p.expires_at = fetched_at + max_age;
  return p;
}

}  // namespace

TEST_CASE("a cold domain is discovered once and then answered from memory") {
  World w;
  w.publish("a.test", "1");
  CHECK(w.query("a.test") == kSecure);
  CHECK(w.dns.asked("_mta-sts.a.test") == 1);
  auto again = w.ask("a.test");
  REQUIRE(again->has_value());  // synchronously: a hit does no I/O
  CHECK(**again == kSecure);
  CHECK(w.dns.asked("_mta-sts.a.test") == 1);
  CHECK(w.policies->stats().hits == 1);
}

TEST_CASE("single flight: concurrent queries for one domain share one discovery") {
  World w;
  w.publish("a.test", "1");
  std::vector<std::shared_ptr<std::optional<std::string>>> answers;
  for (int i = 0; i < 5; ++i) answers.push_back(w.ask("a.test"));
  CHECK(w.policies->in_flight() == 1);
  w.settle();
  for (const auto& a : answers) CHECK(a->value_or("") == kSecure);
  CHECK(w.dns.asked("_mta-sts.a.test") == 1);
  CHECK(w.https.fetched("a.test") == 1);
  CHECK(w.policies->stats().discoveries == 1);
}

TEST_CASE(
    "a query waits at most its zone's timeout; the discovery carries on and serves the next") {
  ResolverSettings settings;
  settings.fetch_timeout = 5000ms;
  World w(settings);
  w.publish("a.test", "1");
  w.dns.hang("_mta-sts.a.test");
  auto first = w.ask("a.test");
  w.time.advance(2900ms);
  CHECK_FALSE(first->has_value());
  w.time.advance(100ms);  // the 3 s zone timeout
  CHECK(first->value_or("") == "NOTFOUND ");
  CHECK(w.policies->stats().timeouts == 1);
  CHECK(w.policies->in_flight() == 1);  // still running
  w.dns.release("_mta-sts.a.test");
  w.settle();
  CHECK(w.policies->in_flight() == 0);
  auto second = w.ask("a.test");
  CHECK(second->value_or("") == kSecure);
}

TEST_CASE("no policy is remembered for negative_ttl, then asked again") {
  ResolverSettings settings;
  settings.negative_ttl = 300;
  World w(settings);
  w.dns.unpublish("a.test");
  CHECK(w.query("a.test") == "NOTFOUND ");
  CHECK(w.query("a.test") == "NOTFOUND ");
  CHECK(w.dns.asked("_mta-sts.a.test") == 1);
  CHECK(w.policies->stats().negative_hits == 1);
  w.time.advance_s(301);
  CHECK(w.query("a.test") == "NOTFOUND ");
  CHECK(w.dns.asked("_mta-sts.a.test") == 2);
}

TEST_CASE("a DNS temporary failure is remembered only for temp_failure_ttl") {
  ResolverSettings settings;
  settings.temp_failure_ttl = 30;
  settings.negative_ttl = 3000;
  World w(settings);
  w.dns.fail("a.test");
  CHECK(w.query("a.test") == "NOTFOUND ");
  w.time.advance_s(31);
  w.publish("a.test", "1");
  CHECK(w.query("a.test") == kSecure);
}

TEST_CASE("revalidation: an unchanged TXT id costs no fetch, answers never wait for it") {
  ResolverSettings settings;
  settings.cache_grace = 60;
  World w(settings);
  w.publish("a.test", "1");
  CHECK(w.query("a.test") == kSecure);
  w.time.advance_s(61);
  auto hit = w.ask("a.test");  // stale-while-revalidate: answered before any lookup ran
  CHECK(hit->value_or("") == kSecure);
  CHECK(w.policies->stats().revalidations == 1);
  w.settle();
  CHECK(w.dns.asked("_mta-sts.a.test") == 2);
  CHECK(w.https.fetched("a.test") == 1);  // §3.1: same id, no fetch
  // A new id: the next revalidation fetches and the new policy answers.
  w.time.advance_s(61);
  w.dns.publish("a.test", "2");
  w.https.serve("a.test", policy_body("enforce", "mx2.a.test"));
  CHECK(w.query("a.test") == kSecure);  // the cached answer, while refetching
  w.settle();
  CHECK(w.https.fetched("a.test") == 2);
  CHECK(w.query("a.test") == "OK secure match=mx2.a.test servername=hostname");
}

TEST_CASE("back-off: a failing refresh keeps the cached policy and waits retry_interval") {
  ResolverSettings settings;
  settings.cache_grace = 60;
  settings.retry_interval = 300;
  World w(settings);
  w.publish("a.test", "1");
  CHECK(w.query("a.test") == kSecure);
  w.dns.publish("a.test", "2");
  w.https.refuse("a.test");
  w.time.advance_s(61);
  CHECK(w.query("a.test") == kSecure);
  w.settle();
  CHECK(w.https.fetched("a.test") == 2);
  CHECK(w.query("a.test") == kSecure);  // §3.3: kept
  w.time.advance_s(100);
  CHECK(w.query("a.test") == kSecure);
  w.settle();
  CHECK(w.https.fetched("a.test") == 2);  // within the back-off: no attempt
  w.time.advance_s(201);
  CHECK(w.query("a.test") == kSecure);
  w.settle();
  CHECK(w.https.fetched("a.test") == 3);
}

TEST_CASE("queue bounds: beyond max_concurrent plus max_queued a cold domain is overloaded") {
  ResolverSettings settings;
  settings.max_concurrent = 1;
  settings.max_queued = 1;
  World w(settings);
  for (const auto* d : {"a.test", "b.test", "c.test"}) {
    w.publish(d, "1");
    w.dns.hang(std::string("_mta-sts.") + d);
  }
  auto a = w.ask("a.test");
  auto b = w.ask("b.test");
  auto c = w.ask("c.test");
  w.time.advance(1ms);
  CHECK(w.policies->running() == 1);
  CHECK(w.policies->queued() == 1);
  CHECK(c->value_or("") == "NOTFOUND ");  // at once, not after the timeout
  CHECK(w.policies->stats().overloaded == 1);
  CHECK(w.dns.asked("_mta-sts.c.test") == 0);
  // Overload is ours: c.test is not remembered as having no policy.
  w.dns.release("_mta-sts.a.test");
  w.dns.release("_mta-sts.b.test");
  w.dns.release("_mta-sts.c.test");
  w.settle();
  CHECK(a->value_or("") == secure_for("a.test"));
  w.settle();
  CHECK(b->value_or("") == secure_for("b.test"));
  CHECK(w.query("c.test") == secure_for("c.test"));
}

TEST_CASE(
    "a reload raising max_concurrent starts queued discoveries at once; lowering holds new ones") {
  ResolverSettings settings;
  settings.max_concurrent = 1;
  settings.max_queued = 8;
  World w(settings);
  for (const auto* d : {"a.test", "b.test", "c.test", "d.test"}) {
    w.publish(d, "1");
    w.dns.hang(std::string("_mta-sts.") + d);
  }
  auto a = w.ask("a.test");
  auto b = w.ask("b.test");
  auto c = w.ask("c.test");
  w.time.advance(1ms);
  REQUIRE(w.policies->running() == 1);
  REQUIRE(w.policies->queued() == 2);
  CHECK(w.dns.asked("_mta-sts.b.test") == 0);
  // Reload: three at once. The queued two go to the network without waiting for a.test.
  settings.max_concurrent = 3;
  CHECK(w.policies->reconfigure(w.policies->zones(), settings).added.empty());
  w.time.advance(1ms);
  CHECK(w.policies->running() == 3);
  CHECK(w.policies->queued() == 0);
  CHECK(w.dns.asked("_mta-sts.b.test") == 1);
  CHECK(w.dns.asked("_mta-sts.c.test") == 1);
  // Reload: one at once. The three running finish; a new domain waits its turn.
  settings.max_concurrent = 1;
  CHECK(w.policies->reconfigure(w.policies->zones(), settings).added.empty());
  auto d = w.ask("d.test");
  w.time.advance(1ms);
  CHECK(w.policies->running() == 3);
  CHECK(w.policies->queued() == 1);
  CHECK(w.dns.asked("_mta-sts.d.test") == 0);
  for (const auto* name : {"a.test", "b.test", "c.test"}) {
    w.dns.release(std::string("_mta-sts.") + name);
  }
  w.settle();
  CHECK(a->value_or("") == secure_for("a.test"));
  CHECK(b->value_or("") == secure_for("b.test"));
  CHECK(c->value_or("") == secure_for("c.test"));
  CHECK(w.dns.asked("_mta-sts.d.test") == 1);
  w.dns.release("_mta-sts.d.test");
  w.settle();
  CHECK(d->value_or("") == secure_for("d.test"));
}

TEST_CASE("a memory miss reads the store before the network") {
  World w({}, true);
  w.store->policies["a.test"] = stored_policy("a.test", "1", w.time.wall.now() - 10);
  CHECK(w.query("a.test") == kSecure);
  CHECK(w.dns.asked("_mta-sts.a.test") == 0);
  CHECK(w.policies->stats().store_hits == 1);
  // An expired stored policy is not answered (§5.1): the network decides.
  w.store->policies["b.test"] = stored_policy("b.test", "1", w.time.wall.now() - 100, 50);
  CHECK(w.query("b.test") == "NOTFOUND ");
  CHECK(w.dns.asked("_mta-sts.b.test") == 1);
}

TEST_CASE("issue 16: a refresh failing after its domain was evicted keeps the stored policy") {
  ResolverSettings settings;
  settings.cache_size = 2;
  settings.cache_grace = 60;
  World w(settings, true);
  w.publish("a.test", "1");
  CHECK(w.query("a.test") == kSecure);  // learned: in memory and in the store
  REQUIRE(w.store->policies.count("a.test") == 1);
  // a.test publishes a new id while its policy host hangs.
  w.time.advance_s(61);
  w.dns.publish("a.test", "2");
  w.https.hang("a.test");
  CHECK(w.query("a.test") == kSecure);  // starts the revalidation
  w.time.advance(10ms);
  // Other domains push a.test out of memory while the fetch hangs.
  for (const auto* d : {"b.test", "c.test", "d.test"}) {
    w.publish(d, "1");
    CHECK(w.query(d) == secure_for(d));
  }
  REQUIRE(w.policies->cache().policy("a.test", w.time.wall.now()) == nullptr);
  w.time.advance(5000ms);  // the fetch times out
  // The store still holds it for a day: never NOTFOUND.
  CHECK(w.query("a.test") == kSecure);
  CHECK(w.policies->cache().policy("a.test", w.time.wall.now()) != nullptr);
}

TEST_CASE("issue 16: prefetch of an evicted stored domain takes the store, not the blocked host") {
  ResolverSettings settings;
  settings.cache_size = 1;
  World w(settings, true);
  w.store->policies["a.test"] = stored_policy("a.test", "1", w.time.wall.now() - 10);
  w.dns.publish("a.test", "1");
  w.https.refuse("a.test");
  CHECK(w.policies->prefetch("a.test"));
  w.settle();
  CHECK(w.dns.asked("_mta-sts.a.test") == 0);
  CHECK(w.query("a.test") == kSecure);
}

TEST_CASE("issue 16: an evicted stored domain is answered from the store while overloaded") {
  ResolverSettings settings;
  settings.max_concurrent = 1;
  settings.max_queued = 0;
  World w(settings, true);
  w.publish("busy.test", "1");
  w.dns.hang("_mta-sts.busy.test");
  auto busy = w.ask("busy.test");
  w.time.advance(1ms);
  REQUIRE(w.policies->running() == 1);
  w.store->policies["a.test"] = stored_policy("a.test", "1", w.time.wall.now() - 10);
  CHECK(w.query("a.test") == kSecure);
  CHECK(w.policies->stats().overloaded == 0);
}

TEST_CASE("issue 16: a failed discovery with nothing in memory asks the store before 'no policy'") {
  World w({}, true);
  w.dns.fail("a.test");
  auto answer = w.ask("a.test");
  // The policy arrives in the store (another fleet member) while DNS fails.
  w.store->policies["a.test"] = stored_policy("a.test", "1", w.time.wall.now());
  w.settle();
  // The first store read saw nothing; the second, after the failure, finds it.
  CHECK(answer->value_or("") == kSecure);
  CHECK(w.store->fetches == 2);
}

TEST_CASE("load_store counts what the store had and what memory kept") {
  ResolverSettings settings;
  settings.cache_size = 2;
  World w(settings, true);
  for (const auto* d : {"a.test", "b.test", "c.test"}) {
    w.store->policies[d] = stored_policy(d, "1", w.time.wall.now() - 10);
  }
  w.store->policies["old.test"] = stored_policy("old.test", "1", w.time.wall.now() - 100, 50);
  const auto loaded = w.policies->stored().load();
  CHECK(loaded.stored == 3);
  CHECK(loaded.in_memory == 2);
}

TEST_CASE("purge forgets memory and store; the next query discovers again") {
  World w({}, true);
  w.publish("a.test", "1");
  CHECK(w.query("a.test") == kSecure);
  CHECK(w.policies->purge("a.test", "a.test"));
  CHECK(w.store->policies.count("a.test") == 0);
  w.dns.unpublish("a.test");
  CHECK(w.query("a.test") == "NOTFOUND ");
}

TEST_CASE("testing mode answers NOTFOUND unless the zone is strict") {
  World w;
  w.publish("a.test", "1", "testing");
  CHECK(w.query("a.test") == "NOTFOUND ");
}

TEST_CASE("proactive refresh re-checks policies before they expire, within its limit") {
  ResolverSettings settings;
  World w(settings);
  Refresher refresher(w.time.timers, w.time.wall, *w.policies, 42);
  for (const auto* d : {"a.test", "b.test", "c.test"}) {
    w.publish(d, "1", "enforce", 86400);
    CHECK(w.query(d) == secure_for(d));
  }
  ProactiveSettings proactive;
  proactive.interval = 3600;
  proactive.concurrency_limit = 1;
  refresher.start(proactive);
  w.dns.hang("_mta-sts.a.test");
  w.dns.hang("_mta-sts.b.test");
  w.dns.hang("_mta-sts.c.test");
  w.time.advance_s(3601);
  CHECK(refresher.sweep() == 3);
  CHECK(refresher.running() == 1);  // concurrency_limit
  CHECK(refresher.queued() >= 2);
  w.dns.release("_mta-sts.a.test");
  w.dns.release("_mta-sts.b.test");
  w.dns.release("_mta-sts.c.test");
  for (int i = 0; i < 5; ++i) w.settle();
  CHECK(refresher.running() == 0);
  CHECK(refresher.queued() == 0);
  CHECK(w.policies->stats().proactive >= 3);
}

TEST_CASE(
    "issue 16: a query for a domain evicted during its refresh reads the store, not the hang") {
  ResolverSettings settings;
  settings.cache_size = 2;
  settings.cache_grace = 60;
  settings.fetch_timeout = 10000ms;
  World w(settings, true);
  w.publish("a.test", "1");
  CHECK(w.query("a.test") == kSecure);
  w.time.advance_s(61);
  w.dns.publish("a.test", "2");
  w.https.hang("a.test");
  CHECK(w.query("a.test") == kSecure);  // starts the refresh, which hangs 10 s
  w.time.advance(10ms);
  for (const auto* d : {"b.test", "c.test", "d.test"}) {
    w.publish(d, "1");
    CHECK(w.query(d) == secure_for(d));
  }
  REQUIRE(w.policies->cache().policy("a.test", w.time.wall.now()) == nullptr);
  REQUIRE(w.policies->in_flight() == 1);
  auto answer = w.ask("a.test");
  w.time.advance(10ms);  // the store answers; the 3 s zone timeout is far
  CHECK(answer->value_or("") == kSecure);
}

TEST_CASE("issue 16: a refresh ending 'id unchanged' after an eviction answers from the store") {
  ResolverSettings settings;
  settings.cache_size = 2;
  settings.cache_grace = 60;
  World w(settings, true);
  w.publish("a.test", "1");
  CHECK(w.query("a.test") == kSecure);
  w.time.advance_s(61);
  w.dns.hang("_mta-sts.a.test");  // the TXT check of the refresh hangs
  CHECK(w.query("a.test") == kSecure);
  for (const auto* d : {"b.test", "c.test", "d.test"}) {
    w.publish(d, "1");
    CHECK(w.query(d) == secure_for(d));
  }
  REQUIRE(w.policies->cache().policy("a.test", w.time.wall.now()) == nullptr);
  // "id unchanged" arrives with memory empty and a query waiting on the refresh
  // (its own store read queued behind the DNS answer).
  w.dns.release("_mta-sts.a.test");
  auto answer = w.ask("a.test");
  w.settle();
  CHECK(answer->value_or("") == kSecure);
  CHECK(w.https.fetched("a.test") == 1);
}

TEST_CASE("recall brings a policy memory dropped back from the store (mta-stsctl show)") {
  ResolverSettings settings;
  settings.cache_size = 1;
  World w(settings, true);
  w.publish("a.test", "1");
  w.publish("b.test", "1");
  CHECK(w.query("a.test") == kSecure);
  CHECK(w.query("b.test") == secure_for("b.test"));
  REQUIRE(w.policies->cache().policy("a.test", w.time.wall.now()) == nullptr);
  bool done = false;
  w.policies->stored().recall("a.test", [&] { done = true; });
  w.settle();
  CHECK(done);
  CHECK(w.policies->cache().policy("a.test", w.time.wall.now()) != nullptr);
  bool none = false;
  w.policies->stored().recall("nothing.test", [&] { none = true; });
  w.settle();
  CHECK(none);
  CHECK(w.policies->cache().policy("nothing.test", w.time.wall.now()) == nullptr);
}

TEST_CASE("issue 16: a store that cannot answer turns a failed discovery into TEMP, not NOTFOUND") {
  World w({}, true);
  // The store holds a.test's enforce policy but cannot be read (Redis down, an
  // I/O error); its policy host is unreachable.
  w.store->policies["a.test"] = stored_policy("a.test", "1", w.time.wall.now() - 10);
  w.store->down = true;
  w.dns.publish("a.test", "1");
  w.https.refuse("a.test");
  CHECK(w.query("a.test") == "TEMP ");
  CHECK(w.policies->stats().store_unknown == 2);  // before and after the discovery
  CHECK(w.policies->stats().store_unknown_temp == 1);
  // Nothing remembered: once the store answers again, its policy is answered.
  CHECK(w.policies->cache().policy("a.test", w.time.wall.now()) == nullptr);
  w.store->down = false;
  CHECK(w.query("a.test") == kSecure);
  CHECK(w.policies->stats().store_hits == 1);
}

TEST_CASE("issue 16: with the store unreadable, a DNS failure is TEMP and a fetched policy OK") {
  World w({}, true);
  w.store->down = true;
  w.dns.fail("a.test");
  CHECK(w.query("a.test") == "TEMP ");
  w.publish("b.test", "1");
  CHECK(w.query("b.test") == secure_for("b.test"));
}

TEST_CASE("issue 16: with the store unreadable, even 'no MTA-STS record' is TEMP, not remembered") {
  // A cached policy outlives its TXT record (§10.2), and a forged NXDOMAIN is the
  // attack: only a store that answers can say nothing protects the domain.
  World w({}, true);
  w.store->policies["a.test"] = stored_policy("a.test", "1", w.time.wall.now() - 10);
  w.store->down = true;
  CHECK(w.query("a.test") == "TEMP ");  // no _mta-sts record published
  CHECK(w.query("a.test") == "TEMP ");
  CHECK(w.dns.asked("_mta-sts.a.test") == 2);  // not remembered
  w.store->down = false;
  CHECK(w.query("a.test") == kSecure);
  // A store that answers "nothing": NOTFOUND, remembered as usual.
  CHECK(w.query("plain.test") == "NOTFOUND ");
}

TEST_CASE("issue 16: a query whose deadline passes while the store cannot answer gets TEMP") {
  World w({}, true);
  w.store->policies["a.test"] = stored_policy("a.test", "1", w.time.wall.now() - 10);
  w.store->down = true;
  w.dns.hang("_mta-sts.a.test");
  CHECK(w.query("a.test") == "TEMP ");
  CHECK(w.policies->stats().timeouts == 1);
  // With the store answering, the same hang is NOTFOUND for an unknown domain.
  w.store->down = false;
  w.dns.hang("_mta-sts.b.test");
  CHECK(w.query("b.test") == "NOTFOUND ");
}

TEST_CASE("issue 16: a query joining a flight begun while the store was down reads it again") {
  World w({}, true);
  w.store->policies["a.test"] = stored_policy("a.test", "1", w.time.wall.now() - 10);
  w.store->down = true;
  w.dns.hang("_mta-sts.a.test");
  CHECK(w.query("a.test") == "TEMP ");
  // The store is back while the discovery still hangs: the next query gets the
  // stored policy, not the flight's "cannot tell".
  w.store->down = false;
  CHECK(w.query("a.test") == kSecure);
  CHECK(w.policies->stats().store_hits == 1);
}

TEST_CASE("issue 16: overloaded while the store cannot answer: TEMP, not NOTFOUND") {
  ResolverSettings settings;
  settings.max_concurrent = 1;
  settings.max_queued = 0;
  World w(settings, true);
  w.publish("busy.test", "1");
  w.dns.hang("_mta-sts.busy.test");
  auto busy = w.ask("busy.test");
  w.time.advance(1ms);
  REQUIRE(w.policies->running() == 1);
  w.store->policies["a.test"] = stored_policy("a.test", "1", w.time.wall.now() - 10);
  w.store->down = true;
  CHECK(w.query("a.test") == "TEMP ");
  CHECK(w.policies->stats().overloaded == 1);
  // A store that answers "nothing" keeps the old answer: overloaded is NOTFOUND.
  w.store->down = false;
  w.store->policies.erase("a.test");
  CHECK(w.query("c.test") == "NOTFOUND ");
}

TEST_CASE("issue 16: the proactive refresh reaches policies only the store holds") {
  ResolverSettings settings;
  settings.cache_size = 1;
  World w(settings, true);
  Refresher refresher(w.time.timers, w.time.wall, *w.policies, 7);
  const auto start = w.time.wall.now();
  for (const auto* d : {"a.test", "b.test", "c.test"}) {
    w.publish(d, "1", "enforce", 86400);
    CHECK(w.query(d) == secure_for(d));  // learned; memory keeps only the last
  }
  REQUIRE(w.policies->cache().positive_count() == 1);
  REQUIRE(w.store->policies.size() == 3);
  ProactiveSettings proactive;
  proactive.interval = 3600;
  refresher.start(proactive);
  w.time.advance_s(3601);  // the timer's sweep runs: memory's one, then the store's two
  for (int i = 0; i < 10; ++i) w.settle();
  // Every policy's TXT record was checked again, the two only the store held too,
  // and the store knows they were: its next sweep does not pick them again.
  for (const auto* d : {"a.test", "b.test", "c.test"}) {
    CAPTURE(d);
    CHECK(w.dns.asked(std::string("_mta-sts.") + d) == 2);
    CHECK(w.store->policies[d].checked_at >= start + 3601);
  }
  CHECK(w.policies->stats().proactive == 3);
  CHECK(w.https.fetched("a.test") == 1);  // id unchanged: no fetch (§3.1)
  w.time.advance_s(60);
  refresher.sweep();
  for (int i = 0; i < 10; ++i) w.settle();
  CHECK(w.policies->stats().proactive == 3);
}

TEST_CASE("issue 16: a store-only policy past half its max_age is refetched, whatever its id") {
  ResolverSettings settings;
  settings.cache_size = 1;
  World w(settings, true);
  Refresher refresher(w.time.timers, w.time.wall, *w.policies, 7);
  w.store->policies["a.test"] = stored_policy("a.test", "1", w.time.wall.now() - 50000);
  w.publish("a.test", "1");
  w.publish("b.test", "1");
  CHECK(w.query("b.test") == secure_for("b.test"));  // memory holds b.test
  refresher.sweep();
  for (int i = 0; i < 10; ++i) w.settle();
  CHECK(w.https.fetched("a.test") == 1);
  CHECK(w.store->policies["a.test"].fetched_at == w.time.wall.now());
}

TEST_CASE("issue 16: a store-only enforce policy whose refresh fails near expiry is alarmed") {
  ResolverSettings settings;
  settings.cache_size = 1;
  World w(settings, true);
  Refresher refresher(w.time.timers, w.time.wall, *w.policies, 7);
  // Only the store holds a.test: a day's max_age, fetched 23 hours ago. Its
  // TXT id changed and its policy host refuses: the refresh fails.
  w.store->policies["a.test"] = stored_policy("a.test", "1", w.time.wall.now() - 23 * 3600);
  w.dns.publish("a.test", "2");
  w.https.refuse("a.test");
  w.publish("b.test", "1");
  CHECK(w.query("b.test") == secure_for("b.test"));  // memory holds b.test
  REQUIRE(w.policies->cache().policy("a.test", w.time.wall.now()) == nullptr);
  refresher.sweep();
  for (int i = 0; i < 10; ++i) w.settle();
  // The downgrade alarm covers it like a policy memory held (its last hour).
  CHECK(w.policies->alarms().count(AlarmKind::expiring) == 1);
  CHECK(w.query("a.test") == kSecure);  // still answered until it expires
}

TEST_CASE("reconfigure (a reload): cached policies answer with the new zone options at once") {
  World w;
  w.publish("a.test", "1", "testing");
  CHECK(w.query("a.test") == "NOTFOUND ");  // testing, strict_testing off
  CHECK(w.https.fetched("a.test") == 1);
  auto zones = w.policies->zones();
  zones[0].answer.strict_testing = true;
  zones[0].answer.require_sni = false;
  const auto changes = w.policies->reconfigure(zones, ResolverSettings{});
  CHECK(changes.added.empty());
  CHECK(changes.retired.empty());
  // The cached testing policy, rendered again: no new fetch.
  CHECK(w.query("a.test") == "OK secure match=mx.a.test");
  CHECK(w.https.fetched("a.test") == 1);
}

TEST_CASE("reconfigure (a reload): zones added and removed by name; an index is never reused") {
  World w;
  w.publish("a.test", "1", "testing");
  w.publish("b.test", "1", "testing");
  CHECK(w.query("a.test") == "NOTFOUND ");
  Zone strict{"strict", {}, std::chrono::milliseconds(3000)};
  strict.answer.strict_testing = true;
  strict.answer.require_sni = false;
  auto zones = w.policies->zones();
  zones.push_back(strict);
  auto changes = w.policies->reconfigure(zones, ResolverSettings{});
  CHECK(changes.added == std::vector<std::string>{"strict"});
  CHECK(changes.retired.empty());
  REQUIRE(w.policies->zone_index("strict") == 1);
  // The cached policy answers in the new zone at once, with its options.
  CHECK(w.query("a.test", "strict") == "OK secure match=mx.a.test");
  CHECK(w.https.fetched("a.test") == 1);

  // A query waiting in the zone when a reload removes it is answered as the
  // default zone (which its name now selects), not from a zone that is gone.
  auto waiting = w.ask("b.test", "strict");
  CHECK_FALSE(waiting->has_value());
  changes = w.policies->reconfigure({w.policies->zones()[0]}, ResolverSettings{});
  CHECK(changes.added.empty());
  CHECK(changes.retired == std::vector<std::string>{"strict"});
  for (int i = 0; i < 40 && !*waiting; ++i) w.time.advance(std::chrono::milliseconds(100));
  REQUIRE(waiting->has_value());
  CHECK(**waiting == "NOTFOUND ");
  CHECK(w.policies->zone_index("strict") == 0);
  CHECK(w.query("a.test", "strict") == "NOTFOUND ");
  REQUIRE(w.policies->zones().size() == 2);
  CHECK(w.policies->zones()[1].retired);

  // Configured again, the name gets its own index back; another zone the next.
  Zone lenient{"lenient", {}, std::chrono::milliseconds(3000)};
  changes = w.policies->reconfigure({w.policies->zones()[0], lenient, strict}, ResolverSettings{});
  CHECK(changes.added == std::vector<std::string>{"lenient", "strict"});
  CHECK(changes.retired.empty());
  CHECK(w.policies->zone_index("strict") == 1);
  CHECK(w.policies->zone_index("lenient") == 2);
  CHECK(w.query("b.test", "strict") == "OK secure match=mx.b.test");
  CHECK(w.query("b.test", "lenient") == "NOTFOUND ");
  CHECK(w.https.fetched("a.test") == 1);
}
