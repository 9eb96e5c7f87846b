// The memory cache's lifecycle rules, driven by an explicit clock.
#include <doctest/doctest.h>

#include <map>

#include "resolver/domain_cache.hpp"
#include "sts/policy.hpp"

using mtasts::cache::CachedPolicy;
using mtasts::resolver::DomainCache;
using Kind = DomainCache::Lookup::Kind;

namespace {

constexpr std::int64_t T0 = 1'700'000'000;

CachedPolicy make_policy(const std::string& domain, mtasts::sts::Mode mode, std::uint32_t max_age,
                         std::int64_t fetched_at, const std::string& id = "id1") {
  CachedPolicy p;
  p.domain = domain;
  p.txt_id = id;
  p.policy.mode = mode;
  p.policy.max_age = max_age;
  p.policy.mx = {"mx1." + domain, "*." + domain};
  p.policy.lines = {"version: STSv1", "mode: enforce"};
  p.fetched_at = fetched_at;
  p.checked_at = fetched_at;
  p.expires_at = fetched_at + max_age;
  return p;
}

DomainCache make_cache(std::size_t capacity = 100) {
  mtasts::sts::AnswerOptions sni;     // default zone
  mtasts::sts::AnswerOptions strict;  // a strict_testing zone
  strict.strict_testing = true;
  return DomainCache(capacity, {sni, strict});
}

}  // namespace

TEST_CASE("an unknown domain is a miss") {
  auto cache = make_cache();
  CHECK(cache.lookup("example.com", 0, T0, 60).kind == Kind::miss);
}

TEST_CASE("a stored enforce policy answers with its pre-rendered answer until it expires") {
  auto cache = make_cache();
  cache.store_policy(make_policy("example.com", mtasts::sts::Mode::enforce, 86400, T0));
  auto hit = cache.lookup("example.com", 0, T0 + 10, 60);
  REQUIRE(hit.kind == Kind::hit);
  CHECK(hit.answer == "OK secure match=mx1.example.com:.example.com servername=hostname");
  CHECK_FALSE(hit.revalidate);  // within cache_grace
  CHECK(cache.lookup("example.com", 0, T0 + 86399, 60).kind == Kind::hit);
  // RFC 8461 §5.1: an expired policy is not applied.
  CHECK(cache.lookup("example.com", 0, T0 + 86400, 60).kind == Kind::miss);
}

TEST_CASE("testing mode answers NOTFOUND except in a strict_testing zone") {
  auto cache = make_cache();
  cache.store_policy(make_policy("t.example", mtasts::sts::Mode::testing, 3600, T0));
  CHECK(cache.lookup("t.example", 0, T0, 60).answer == "NOTFOUND ");
  CHECK(cache.lookup("t.example", 1, T0, 60).answer.substr(0, 10) == "OK secure ");
}

TEST_CASE("after cache_grace a hit asks for a background revalidation with the cached id") {
  auto cache = make_cache();
  cache.store_policy(make_policy("example.com", mtasts::sts::Mode::enforce, 86400, T0, "abc"));
  auto hit = cache.lookup("example.com", 0, T0 + 61, 60);
  CHECK(hit.kind == Kind::hit);
  CHECK(hit.revalidate);
  CHECK(hit.known_id == "abc");
  cache.confirm("example.com", T0 + 61);
  CHECK_FALSE(cache.lookup("example.com", 0, T0 + 100, 60).revalidate);
  CHECK(cache.lookup("example.com", 0, T0 + 122, 60).revalidate);
}

TEST_CASE("past half its lifetime the policy is refetched even if the id is unchanged") {
  auto cache = make_cache();
  cache.store_policy(make_policy("example.com", mtasts::sts::Mode::enforce, 1000, T0, "abc"));
  auto hit = cache.lookup("example.com", 0, T0 + 500, 60);
  CHECK(hit.revalidate);
  CHECK(hit.known_id.empty());
}

TEST_CASE("a failed refresh keeps the cached policy and backs off (RFC 8461 §3.3)") {
  auto cache = make_cache();
  cache.store_policy(make_policy("example.com", mtasts::sts::Mode::enforce, 86400, T0));
  CHECK(cache.record_failure("example.com", T0 + 100 + 300) == 1);
  auto hit = cache.lookup("example.com", 0, T0 + 200, 60);
  CHECK(hit.kind == Kind::hit);
  CHECK_FALSE(hit.revalidate);  // backing off
  CHECK(cache.lookup("example.com", 0, T0 + 400, 60).revalidate);
  CHECK(cache.record_failure("example.com", T0 + 700) == 2);
  // A negative result while an unexpired policy is cached never replaces it.
  cache.store_negative("example.com", T0 + 800, T0 + 1100);
  CHECK(cache.lookup("example.com", 0, T0 + 900, 60).kind == Kind::hit);
}

TEST_CASE("a new policy replaces the cached one, mode none included (RFC 8461 §8.3)") {
  auto cache = make_cache();
  cache.store_policy(make_policy("example.com", mtasts::sts::Mode::enforce, 86400, T0));
  cache.store_policy(make_policy("example.com", mtasts::sts::Mode::none, 86400, T0 + 10, "id2"));
  CHECK(cache.lookup("example.com", 0, T0 + 20, 60).answer == "NOTFOUND ");
  CHECK(cache.positive_count() == 1);
}

TEST_CASE("negative entries answer NOTFOUND until they lapse") {
  auto cache = make_cache();
  cache.store_negative("none.example", T0, T0 + 300);
  auto neg = cache.lookup("none.example", 0, T0 + 299, 60);
  CHECK(neg.kind == Kind::negative);
  CHECK(neg.answer == "NOTFOUND ");
  CHECK(cache.lookup("none.example", 0, T0 + 300, 60).kind == Kind::miss);
}

TEST_CASE("an expired policy gives way to a negative entry") {
  auto cache = make_cache();
  cache.store_policy(make_policy("example.com", mtasts::sts::Mode::enforce, 100, T0));
  cache.store_negative("example.com", T0 + 200, T0 + 500);
  CHECK(cache.lookup("example.com", 0, T0 + 201, 60).kind == Kind::negative);
  CHECK(cache.positive_count() == 0);
  CHECK(cache.negative_count() == 1);
}

TEST_CASE("beyond capacity the least recently used go, negative entries first") {
  auto cache = make_cache(4);
  cache.store_policy(make_policy("p1.example", mtasts::sts::Mode::enforce, 86400, T0));
  cache.store_policy(make_policy("p2.example", mtasts::sts::Mode::enforce, 86400, T0));
  cache.store_negative("n1.example", T0, T0 + 300);
  cache.store_negative("n2.example", T0, T0 + 300);
  CHECK(cache.size() == 4);
  cache.store_negative("n3.example", T0, T0 + 300);  // evicts n1, the oldest negative
  CHECK(cache.size() == 4);
  CHECK(cache.lookup("n1.example", 0, T0, 60).kind == Kind::miss);
  CHECK(cache.lookup("p1.example", 0, T0, 60).kind == Kind::hit);
  CHECK(cache.lookup("p2.example", 0, T0, 60).kind == Kind::hit);
  cache.store_policy(
      make_policy("p3.example", mtasts::sts::Mode::enforce, 86400, T0));  // evicts n2
  CHECK(cache.lookup("n2.example", 0, T0, 60).kind == Kind::miss);
  cache.store_policy(
      make_policy("p4.example", mtasts::sts::Mode::enforce, 86400, T0));  // evicts n3
  CHECK(cache.lookup("n3.example", 0, T0, 60).kind == Kind::miss);
  CHECK(cache.negative_count() == 0);
  // Only policies left: the least recently used one goes (p2 here, as p1 is touched).
  CHECK(cache.lookup("p1.example", 0, T0, 60).kind == Kind::hit);
  CHECK(cache.lookup("p3.example", 0, T0, 60).kind == Kind::hit);
  CHECK(cache.lookup("p4.example", 0, T0, 60).kind == Kind::hit);
  cache.store_policy(make_policy("p5.example", mtasts::sts::Mode::enforce, 86400, T0));
  CHECK(cache.size() == 4);
  CHECK(cache.lookup("p2.example", 0, T0, 60).kind == Kind::miss);
  CHECK(cache.lookup("p5.example", 0, T0, 60).kind == Kind::hit);
  CHECK(cache.positive_count() + cache.negative_count() == cache.size());
}

TEST_CASE("erase forgets a domain") {
  auto cache = make_cache();
  cache.store_policy(make_policy("example.com", mtasts::sts::Mode::enforce, 86400, T0));
  CHECK(cache.erase("example.com"));
  CHECK_FALSE(cache.erase("example.com"));
  CHECK(cache.lookup("example.com", 0, T0, 60).kind == Kind::miss);
  CHECK(cache.size() == 0);
}

TEST_CASE("proactive refresh picks policies by last check, expiry horizon and back-off") {
  auto cache = make_cache();
  // fresh: checked just now, long-lived.
  cache.store_policy(make_policy("fresh.example", mtasts::sts::Mode::enforce, 864000, T0, "f"));
  // stale: checked two days ago, young enough to only check the id.
  cache.store_policy(
      make_policy("stale.example", mtasts::sts::Mode::enforce, 8640000, T0 - 172800, "s"));
  // expiring: checked now but expires within the horizon: refetch.
  cache.store_policy(make_policy("expiring.example", mtasts::sts::Mode::enforce, 3600, T0, "e"));
  // old: past half its lifetime: refetch.
  cache.store_policy(
      make_policy("old.example", mtasts::sts::Mode::testing, 300000, T0 - 200000, "o"));
  // backing off after failures: skipped.
  cache.store_policy(
      make_policy("failing.example", mtasts::sts::Mode::enforce, 8640000, T0 - 172800));
  cache.record_failure("failing.example", T0 + 300);
  // expired and negative entries: never.
  cache.store_policy(make_policy("expired.example", mtasts::sts::Mode::enforce, 100, T0 - 1000));
  cache.store_negative("neg.example", T0, T0 + 300);

  auto picked = cache.refresh_candidates(T0, 43200, 86400);
  std::map<std::string, std::string> got;
  for (auto& c : picked) got[c.domain] = c.known_id;
  CHECK(got.size() == 3);
  CHECK(got.count("stale.example") == 1);
  CHECK(got["stale.example"] == "s");
  CHECK(got.count("expiring.example") == 1);
  CHECK(got["expiring.example"].empty());
  CHECK(got.count("old.example") == 1);
  CHECK(got["old.example"].empty());
  // After its back-off the failing domain is due again.
  CHECK(cache.refresh_candidates(T0 + 301, 43200, 86400).size() == 4);
}
