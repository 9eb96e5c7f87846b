// mtastsd_store_errors_total: one series per backend and operation, read from
// the store at every scrape.
#include <doctest/doctest.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "cache/store.hpp"
#include "daemon/daemon_metrics.hpp"
#include "sts/policy.hpp"
#include "util/clock.hpp"

namespace {

// A store that only reports error counts (a tiered store: two backends).
class CountingStore final : public mtasts::cache::PolicyStore {
 public:
  std::vector<mtasts::cache::StoreErrorCounts> counts;
  std::optional<Census> next_census;
  int census_calls = 0;
  std::int64_t last_horizon = 0;

  std::string describe() const override { return "counting"; }
  bool load_all(const std::function<void(mtasts::cache::CachedPolicy)>&) override { return true; }
  void fetch(const std::string&, std::function<void(mtasts::cache::PolicyRead)> done) override {
    done(mtasts::cache::PolicyRead::absent());
  }
  void save(const mtasts::cache::CachedPolicy&) override {}
  void remove(const std::string&) override {}
  void load_all_dane(const std::function<void(mtasts::cache::CachedDane)>&) override {}
  void fetch_dane(const std::string&, std::function<void(mtasts::cache::DaneRead)> done) override {
    done(mtasts::cache::DaneRead::absent());
  }
  void save_dane(const mtasts::cache::CachedDane&) override {}
  std::vector<mtasts::cache::StoreErrorCounts> error_counts() const override { return counts; }
  std::optional<Census> census(std::int64_t now, std::int64_t expiring_before) override {
    ++census_calls;
    last_horizon = expiring_before - now;
    return next_census;
  }
  void flush() override {}
};

bool has_line(const std::string& text, const std::string& line) {
  return text.find("\n" + line + "\n") != std::string::npos;
}

}  // namespace

TEST_CASE("store errors: a series per backend and operation, current at each scrape") {
  CountingStore store;
  mtasts::util::ManualClock clock(1'700'000'000);
  store.counts = {{"redis", 0, 0}, {"sqlite", 0, 0}};
  mtasts::daemon::DaemonMetrics metrics({""});
  metrics.watch_store(store, clock);
  auto text = metrics.scrape();
  CHECK(has_line(text, "# TYPE mtastsd_store_errors_total counter"));
  CHECK(has_line(text, R"(mtastsd_store_errors_total{backend="redis",operation="read"} 0)"));
  CHECK(has_line(text, R"(mtastsd_store_errors_total{backend="sqlite",operation="write"} 0)"));

  store.counts = {{"redis", 3, 1}, {"sqlite", 0, 2}};
  text = metrics.scrape();
  CHECK(has_line(text, R"(mtastsd_store_errors_total{backend="redis",operation="read"} 3)"));
  CHECK(has_line(text, R"(mtastsd_store_errors_total{backend="redis",operation="write"} 1)"));
  CHECK(has_line(text, R"(mtastsd_store_errors_total{backend="sqlite",operation="read"} 0)"));
  CHECK(has_line(text, R"(mtastsd_store_errors_total{backend="sqlite",operation="write"} 2)"));
}

TEST_CASE("store errors: no series without a store") {
  mtasts::daemon::DaemonMetrics metrics({""});
  CHECK(metrics.scrape().find("mtastsd_store_errors_total") == std::string::npos);
}

TEST_CASE("stored policies: the store's census by mode, not memory's, paced between scrapes") {
  CountingStore store;
  mtasts::util::ManualClock clock(1'700'000'000);
  mtasts::cache::PolicyStore::Census census;
  census.by_mode[static_cast<std::size_t>(mtasts::sts::Mode::enforce)] = 7;
  census.by_mode[static_cast<std::size_t>(mtasts::sts::Mode::testing)] = 2;
  census.expiring = 3;
  store.next_census = census;
  mtasts::daemon::DaemonMetrics metrics({""});
  metrics.watch_store(store, clock);
  auto text = metrics.scrape();
  CHECK(store.census_calls == 1);
  CHECK(store.last_horizon == 24 * 3600);
  CHECK(has_line(text, "# TYPE mtastsd_stored_policies gauge"));
  CHECK(has_line(text, R"(mtastsd_stored_policies{mode="enforce"} 7)"));
  CHECK(has_line(text, R"(mtastsd_stored_policies{mode="testing"} 2)"));
  CHECK(has_line(text, R"(mtastsd_stored_policies{mode="none"} 0)"));
  CHECK(has_line(text, "mtastsd_stored_policies_expiring 3"));
  // A second scrape within the minute reads the last census, not the store.
  store.next_census->by_mode[0] = 8;
  text = metrics.scrape();
  CHECK(store.census_calls == 1);
  CHECK(has_line(text, R"(mtastsd_stored_policies{mode="enforce"} 7)"));
}
