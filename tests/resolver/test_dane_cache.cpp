#include <doctest/doctest.h>

#include <algorithm>

#include "resolver/dane_cache.hpp"

using mtasts::cache::CachedDane;
using mtasts::dane::Level;
using mtasts::resolver::DaneCache;
using Kind = DaneCache::Lookup::Kind;

namespace {

constexpr std::int64_t T0 = 1'700'000'000;

CachedDane result(const std::string& destination, Level level, std::int64_t ttl = 100,
                  std::int64_t stale = 1000) {
  CachedDane d;
  d.destination = destination;
  d.level = level;
  d.summary = "MX secure";
  d.fetched_at = T0;
  d.expires_at = T0 + ttl;
  d.keep_until = T0 + ttl + stale;
  return d;
}

}  // namespace

TEST_CASE("a DANE result is fresh for its TTL, then expired within its stale window") {
  DaneCache cache(10);
  CHECK(cache.lookup("a.example", T0).kind == Kind::miss);
  cache.store(result("a.example", Level::dane_only));
  auto fresh = cache.lookup("a.example", T0 + 10);
  CHECK(fresh.kind == Kind::fresh);
  CHECK(fresh.level == Level::dane_only);
  CHECK_FALSE(fresh.refresh_due);
  // Past three quarters of the TTL: refresh ahead of expiry.
  CHECK(cache.lookup("a.example", T0 + 75).refresh_due);
  auto expired = cache.lookup("a.example", T0 + 100);
  CHECK(expired.kind == Kind::expired);
  CHECK(expired.level == Level::dane_only);
  // Past keep_until nothing is usable.
  CHECK(cache.lookup("a.example", T0 + 1100).kind == Kind::miss);
}

TEST_CASE("failures: stale results answer while lookups fail, nothing else is invented") {
  DaneCache cache(10);
  cache.store(result("a.example", Level::dane));
  cache.record_failure("a.example", T0 + 130);
  // Fresh stays fresh, but no refresh while backing off.
  CHECK(cache.lookup("a.example", T0 + 90).kind == Kind::fresh);
  CHECK_FALSE(cache.lookup("a.example", T0 + 90).refresh_due);
  auto stale = cache.lookup("a.example", T0 + 110);
  CHECK(stale.kind == Kind::stale);
  CHECK(stale.level == Level::dane);
  // The back-off over, an expired result asks for a lookup again.
  CHECK(cache.lookup("a.example", T0 + 130).kind == Kind::expired);

  cache.record_failure("b.example", T0 + 30);
  CHECK(cache.lookup("b.example", T0 + 10).kind == Kind::failed);
  CHECK(cache.lookup("b.example", T0 + 30).kind == Kind::miss);
  // A definite result clears the failure.
  cache.record_failure("c.example", T0 + 500);
  cache.store(result("c.example", Level::none));
  CHECK(cache.lookup("c.example", T0 + 10).kind == Kind::fresh);
  // Results are counted apart from failures still awaiting their retry.
  CHECK(cache.size() == 3);  // a, b (a failure only) and c
  CHECK(cache.result_count() == 2);
  cache.store(result("c.example", Level::dane));  // replaced: still two
  CHECK(cache.result_count() == 2);
  CHECK(cache.erase("c.example"));
  CHECK(cache.result_count() == 1);
}

TEST_CASE("beyond capacity the least recently used go, 'no DANE' results first") {
  DaneCache cache(3);
  cache.store(result("protect1", Level::dane_only));
  cache.store(result("none1", Level::none));
  cache.store(result("protect2", Level::dane));
  cache.store(result("none2", Level::none));  // evicts none1 (oldest non-protective)
  CHECK(cache.result("none1") == nullptr);
  CHECK(cache.size() == 3);
  cache.store(result("none3", Level::none));  // evicts none2
  CHECK(cache.result("none2") == nullptr);
  CHECK(cache.result("protect1") != nullptr);
  CHECK(cache.result("protect2") != nullptr);
  // Only protective ones left besides the newest: the least recently used goes.
  cache.lookup("protect1", T0);
  cache.store(result("protect3", Level::dane_only));
  CHECK(cache.size() == 3);
  CHECK(cache.result("protect3") != nullptr);
  CHECK(cache.result_count() == 3);  // evictions are counted out
  CHECK(cache.erase("protect3"));
  CHECK_FALSE(cache.erase("protect3"));
  CHECK(cache.result_count() == 2);
}

TEST_CASE("the sweep refreshes results that protect mail and expire soon") {
  DaneCache cache(10);
  cache.store(result("soon", Level::dane_only, 100));
  cache.store(result("later", Level::dane, 5000));
  cache.store(result("plain", Level::none, 100));
  cache.store(result("backoff", Level::dane, 100));
  cache.record_failure("backoff", T0 + 200);
  auto due = cache.refresh_candidates(T0 + 50, 60);
  std::sort(due.begin(), due.end());
  CHECK(due == std::vector<std::string>{"soon"});
}
