#pragma once
// The policy lifecycle (and, when asked, DANE and a store) wired to the fakes
// of lifecycle_fakes.hpp, with the query helpers every lifecycle test uses.
// Tests derive from it to add what they publish.
#include <doctest/doctest.h>

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "lifecycle_fakes.hpp"
#include "resolver/dane_resolver.hpp"
#include "resolver/policy_resolver.hpp"
#include "sts/query_key.hpp"

namespace mtasts::resolver::testing {

struct LifecycleSetup {
  ResolverSettings settings{};
  bool store = false;                       // a FakeStore behind the memory cache
  std::optional<DaneSettings> dane{};       // DANE first, with these settings
  std::chrono::milliseconds timeout{3000};  // the default zone's
};

struct LifecycleWorld {
  FakeTime time;
  FakeDns dns{time.timers};
  FakeHttps https{time.timers};
  std::unique_ptr<FakeStore> store;
  std::unique_ptr<DaneResolver> dane;
  std::unique_ptr<PolicyResolver> policies;

  explicit LifecycleWorld(const LifecycleSetup& setup = {}) {
    if (setup.store) store = std::make_unique<FakeStore>(time.timers);
    if (setup.dane) {
      dane = std::make_unique<DaneResolver>(time.timers, dns, time.wall, *setup.dane, store.get());
    }
    Zone zone;
    zone.timeout = setup.timeout;
    policies = std::make_unique<PolicyResolver>(time.timers, dns, https, time.wall,
                                                std::vector<Zone>{zone}, setup.settings,
                                                store.get(), dane.get());
  }

  // Asks; the answer may come at once (cache) or once time moves.
  // map: the socketmap name, which selects the zone ("": the default zone).
  std::shared_ptr<std::optional<std::string>> ask(const std::string& key,
                                                  std::string_view map = {}) {
    auto answer = std::make_shared<std::optional<std::string>>();
    policies->answer(policies->zone_index(map), sts::parse_query_key(key),
                     [answer](std::string_view text) { *answer = std::string(text); });
    return answer;
  }
  // Asks and lets the lifecycle run until the answer (at most the zone timeout).
  std::string query(const std::string& key, std::string_view map = {}) {
    auto answer = ask(key, map);
    for (int i = 0; i < 40 && !*answer; ++i) time.advance(std::chrono::milliseconds(100));
    REQUIRE(answer->has_value());
    return **answer;
  }
  void settle() { time.advance(std::chrono::milliseconds(10)); }
};

}  // namespace mtasts::resolver::testing
