// Records handed to the lifecycle from outside (mta-stsctl import): checked as
// a store's records, never replacing a newer record or downgrading an
// unexpired enforce policy or a stronger DANE result, the store read first
// when memory has nothing. No sockets: the fakes of lifecycle_fakes.hpp.
#include <doctest/doctest.h>

#include <optional>
#include <string>

#include "lifecycle_world.hpp"
#include "resolver/policy_resolver.hpp"

namespace {

using namespace mtasts;
using namespace mtasts::resolver;
using namespace mtasts::resolver::testing;

constexpr std::int64_t kNow = 1'700'000'000;

// As an export carries it: the text, the times; the parsed fields empty.
cache::CachedPolicy exported(const std::string& domain, const std::string& mode,
                             std::int64_t fetched_at, std::uint32_t max_age = 86400,
                             const std::string& id = "1") {
  cache::CachedPolicy p;
  p.domain = domain;
  p.txt_id = id;
  p.body = policy_body(mode, "mx." + domain, max_age);
  p.fetched_at = fetched_at;
  p.checked_at = fetched_at;
  p.expires_at = fetched_at + max_age;
  return p;
}

cache::CachedDane exported_dane(const std::string& destination, dane::Level level,
                                std::int64_t fetched_at) {
  return {destination, level, "exported", fetched_at, fetched_at + 3600, fetched_at + 7200};
}

struct Import {
  std::optional<Adoption> result;
  auto sink() {
    return [this](Adoption a) { result = std::move(a); };
  }
};

Adoption import(LifecycleWorld& w, cache::CachedPolicy record) {
  Import got;
  w.policies->import_policy(std::move(record), got.sink());
  w.settle();
  REQUIRE(got.result.has_value());
  return *got.result;
}

Adoption import(LifecycleWorld& w, cache::CachedDane record) {
  Import got;
  w.dane->import_result(std::move(record), got.sink());
  w.settle();
  REQUIRE(got.result.has_value());
  return *got.result;
}

LifecycleSetup with_store() {
  LifecycleSetup setup;
  setup.store = true;
  return setup;
}

}  // namespace

TEST_CASE("an imported policy answers without the network and is saved to the store") {
  LifecycleWorld w(with_store());
  const auto a = import(w, exported("a.test", "enforce", kNow - 100));
  CHECK(a.outcome == Adoption::Outcome::adopted);
  REQUIRE(w.store->policies.count("a.test") == 1);
  CHECK(w.store->policies["a.test"].policy.mode == sts::Mode::enforce);
  // Nothing is published: the answer can only come from the import.
  CHECK(w.query("a.test") == "OK secure match=mx.a.test servername=hostname");
}

TEST_CASE("an imported policy is checked as a store's record") {
  LifecycleWorld w(with_store());
  SUBCASE("expiry stretched past fetched_at + max_age") {
    auto p = exported("a.test", "enforce", kNow - 100);
    p.expires_at += 86400 * 30;
    const auto a = import(w, p);
    CHECK(a.outcome == Adoption::Outcome::refused);
    CHECK(a.reason.find("max_age") != std::string::npos);
  }
  SUBCASE("fetched in the future") {
    const auto a = import(w, exported("a.test", "enforce", kNow + 86400));
    CHECK(a.outcome == Adoption::Outcome::refused);
    CHECK(a.reason.find("future") != std::string::npos);
  }
  SUBCASE("a garbled body") {
    auto p = exported("a.test", "enforce", kNow - 100);
    p.body = "version: STSv1\nmode: enforce\nmx: mx.a.test\n";  // no max_age
    const auto a = import(w, p);
    CHECK(a.outcome == Adoption::Outcome::refused);
    CHECK(a.reason.find("invalid policy") != std::string::npos);
  }
  SUBCASE("expired") {
    const auto a = import(w, exported("a.test", "enforce", kNow - 200, 100));
    CHECK(a.outcome == Adoption::Outcome::refused);
  }
  SUBCASE("a domain not in the daemon's form") {
    const auto a = import(w, exported("A.Test", "enforce", kNow - 100));
    CHECK(a.outcome == Adoption::Outcome::refused);
    CHECK(a.reason.find("A-label") != std::string::npos);
  }
  CHECK(w.store->policies.empty());
  CHECK(w.policies->cache().policy("a.test", kNow) == nullptr);
}

TEST_CASE("an imported policy never replaces a newer one or downgrades enforce") {
  LifecycleWorld w(with_store());
  REQUIRE(import(w, exported("a.test", "enforce", kNow - 100, 86400, "2")).outcome ==
          Adoption::Outcome::adopted);
  SUBCASE("older, or fetched at the same time") {
    const auto older = import(w, exported("a.test", "testing", kNow - 500, 86400, "1"));
    CHECK(older.outcome == Adoption::Outcome::older);
    CHECK(import(w, exported("a.test", "enforce", kNow - 100, 86400, "3")).outcome ==
          Adoption::Outcome::older);
  }
  SUBCASE("newer but weaker than the unexpired enforce policy held") {
    const auto weaker = import(w, exported("a.test", "testing", kNow - 50, 86400, "3"));
    CHECK(weaker.outcome == Adoption::Outcome::refused);
    CHECK(weaker.reason.find("enforce to testing") != std::string::npos);
  }
  CHECK(w.policies->cache().policy("a.test", kNow)->txt_id == "2");
  CHECK(w.store->policies["a.test"].txt_id == "2");
  SUBCASE("newer and as strong replaces it") {
    CHECK(import(w, exported("a.test", "enforce", kNow - 50, 86400, "3")).outcome ==
          Adoption::Outcome::adopted);
    CHECK(w.policies->cache().policy("a.test", kNow)->txt_id == "3");
    CHECK(w.store->policies["a.test"].txt_id == "3");
  }
}

TEST_CASE("an import is compared with what only the store holds") {
  LifecycleWorld w(with_store());
  auto held = exported("a.test", "enforce", kNow - 100, 86400, "2");
  held.policy = *sts::parse_policy(held.body).policy;
  w.store->policies["a.test"] = held;  // memory dropped it (cache_size)
  CHECK(import(w, exported("a.test", "enforce", kNow - 500, 86400, "1")).outcome ==
        Adoption::Outcome::older);
  CHECK(w.store->policies["a.test"].txt_id == "2");
  SUBCASE("a store that cannot tell refuses the import") {
    w.store->down = true;
    const auto a = import(w, exported("b.test", "enforce", kNow - 100));
    CHECK(a.outcome == Adoption::Outcome::refused);
    CHECK(a.reason.find("cannot tell") != std::string::npos);
  }
}

TEST_CASE("an imported DANE result is checked, kept, and never weakens a stronger one") {
  LifecycleSetup setup = with_store();
  setup.dane = DaneSettings{};
  LifecycleWorld w(setup);
  CHECK(import(w, exported_dane("a.test", dane::Level::dane_only, kNow - 100)).outcome ==
        Adoption::Outcome::adopted);
  REQUIRE(w.dane->cache().result("a.test") != nullptr);
  CHECK(w.store->dane.count("a.test") == 1);
  CHECK(import(w, exported_dane("a.test", dane::Level::dane_only, kNow - 200)).outcome ==
        Adoption::Outcome::older);
  const auto weaker = import(w, exported_dane("a.test", dane::Level::none, kNow - 50));
  CHECK(weaker.outcome == Adoption::Outcome::refused);
  CHECK(weaker.reason.find("dane-only to none") != std::string::npos);
  auto stretched = exported_dane("b.test", dane::Level::dane, kNow - 100);
  stretched.expires_at = kNow + 30 * 86400;
  stretched.keep_until = stretched.expires_at;
  CHECK(import(w, stretched).outcome == Adoption::Outcome::refused);
  CHECK(import(w, exported_dane("[mx.b.test]:x", dane::Level::dane, kNow - 100)).outcome ==
        Adoption::Outcome::refused);
  CHECK(w.dane->cache().result("a.test")->level == dane::Level::dane_only);
}
