// TieredStore over two real SQLite stores: merging, fallback and the local copy,
// for policies and DANE results alike.
#include <doctest/doctest.h>
#include <unistd.h>

#include <ctime>
#include <filesystem>
#include <map>

#include "cache/sqlite_store.hpp"
#include "cache/tiered_store.hpp"

using mtasts::cache::CachedPolicy;
using mtasts::cache::SqliteStore;
using mtasts::cache::TieredStore;

namespace {

struct Dir {
  std::filesystem::path path;
  Dir() {
    char pattern[] = "/tmp/mtasts-tiered-XXXXXX";
    path = ::mkdtemp(pattern);
  }
  ~Dir() { std::filesystem::remove_all(path); }
};

CachedPolicy make(const std::string& domain, std::int64_t fetched_at, const std::string& id) {
  CachedPolicy p;
  p.domain = domain;
  p.txt_id = id;
  p.body = "version: STSv1\nmode: enforce\nmx: mx." + domain + "\nmax_age: 86400\n";
  p.fetched_at = fetched_at;
  p.checked_at = fetched_at;
  p.expires_at = fetched_at + 86400;
  return p;
}

std::optional<CachedPolicy> fetch(mtasts::cache::PolicyStore& store, const std::string& domain) {
  std::optional<CachedPolicy> out;
  store.fetch(domain, [&](std::optional<CachedPolicy> p) { out = std::move(p); });
  return out;
}

}  // namespace

TEST_CASE("tiered store: writes reach both tiers; load_all keeps the newest of each domain") {
  Dir dir;
  const auto primary_path = (dir.path / "primary.db").string();
  const auto local_path = (dir.path / "local.db").string();
  {
    SqliteStore primary(primary_path);
    primary.save(make("both.example", 2000, "newer"));
    primary.save(make("primary-only.example", 1000, "p"));
    primary.flush();
    SqliteStore local(local_path);
    local.save(make("both.example", 1000, "older"));
    local.save(make("local-only.example", 1000, "l"));
    local.flush();
  }
  TieredStore tiered(std::make_unique<SqliteStore>(primary_path),
                     std::make_unique<SqliteStore>(local_path));
  std::map<std::string, std::string> ids;
  tiered.load_all([&](CachedPolicy p) { ids[p.domain] = p.txt_id; });
  CHECK(ids == std::map<std::string, std::string>{{"both.example", "newer"},
                                                  {"local-only.example", "l"},
                                                  {"primary-only.example", "p"}});
  tiered.save(make("new.example", 3000, "n"));
  tiered.remove("local-only.example");
  tiered.flush();
  SqliteStore primary(primary_path);
  SqliteStore local(local_path);
  CHECK(fetch(primary, "new.example").has_value());
  CHECK(fetch(local, "new.example").has_value());
  CHECK_FALSE(fetch(local, "local-only.example").has_value());
}

TEST_CASE("tiered store: fetch falls back to the local tier and copies primary hits locally") {
  Dir dir;
  const auto primary_path = (dir.path / "primary.db").string();
  const auto local_path = (dir.path / "local.db").string();
  {
    SqliteStore primary(primary_path);
    primary.save(make("shared.example", 1000, "s"));
    primary.flush();
    SqliteStore local(local_path);
    local.save(make("mine.example", 1000, "m"));
    local.flush();
  }
  {
    TieredStore tiered(std::make_unique<SqliteStore>(primary_path),
                       std::make_unique<SqliteStore>(local_path));
    auto shared = fetch(tiered, "shared.example");
    REQUIRE(shared.has_value());
    CHECK(shared->txt_id == "s");
    auto mine = fetch(tiered, "mine.example");
    REQUIRE(mine.has_value());
    CHECK(mine->txt_id == "m");
    CHECK_FALSE(fetch(tiered, "nowhere.example").has_value());
    tiered.flush();
  }
  SqliteStore local(local_path);
  CHECK(fetch(local, "shared.example").has_value());  // the copy made on the primary hit
}

namespace {

mtasts::cache::CachedDane dane_result(const std::string& destination, std::int64_t fetched_at,
                                      mtasts::dane::Level level) {
  mtasts::cache::CachedDane d;
  d.destination = destination;
  d.level = level;
  d.summary = "from " + std::to_string(fetched_at);
  const auto now = static_cast<std::int64_t>(std::time(nullptr));
  d.fetched_at = now - 100 + fetched_at;
  d.expires_at = d.fetched_at + 300;
  d.keep_until = d.expires_at + 3600;
  return d;
}

std::optional<mtasts::cache::CachedDane> fetch_dane(mtasts::cache::PolicyStore& store,
                                                    const std::string& destination) {
  std::optional<mtasts::cache::CachedDane> out;
  store.fetch_dane(destination,
                   [&](std::optional<mtasts::cache::CachedDane> d) { out = std::move(d); });
  return out;
}

}  // namespace

TEST_CASE("tiered store, DANE: load keeps the newest of each destination; writes reach both") {
  using mtasts::cache::CachedDane;
  using mtasts::dane::Level;
  Dir dir;
  const auto primary_path = (dir.path / "primary.db").string();
  const auto local_path = (dir.path / "local.db").string();
  {
    SqliteStore primary(primary_path);
    primary.save_dane(dane_result("both.example", 20, Level::dane_only));
    primary.save_dane(dane_result("primary-only.example", 10, Level::dane));
    primary.flush();
    SqliteStore local(local_path);
    local.save_dane(dane_result("both.example", 10, Level::none));
    local.save_dane(dane_result("[local.example]:25", 10, Level::dane));
    local.save(make("local-only.example", 1000, "l"));
    local.save_dane(dane_result("local-only.example", 10, Level::dane));
    local.flush();
  }
  TieredStore tiered(std::make_unique<SqliteStore>(primary_path),
                     std::make_unique<SqliteStore>(local_path));
  std::map<std::string, Level> levels;
  tiered.load_all_dane([&](CachedDane d) { levels[d.destination] = d.level; });
  CHECK(levels == std::map<std::string, Level>{{"both.example", Level::dane_only},
                                               {"local-only.example", Level::dane},
                                               {"[local.example]:25", Level::dane},
                                               {"primary-only.example", Level::dane}});
  tiered.save_dane(dane_result("new.example", 30, Level::dane_only));
  tiered.remove("local-only.example");
  tiered.flush();
  SqliteStore primary(primary_path);
  SqliteStore local(local_path);
  CHECK(fetch_dane(primary, "new.example").has_value());
  CHECK(fetch_dane(local, "new.example").has_value());
  CHECK_FALSE(fetch_dane(local, "local-only.example").has_value());
  CHECK_FALSE(fetch(local, "local-only.example").has_value());
  CHECK(fetch_dane(local, "[local.example]:25").has_value());
}

TEST_CASE("tiered store, DANE: fetch falls back to the local tier and copies primary hits") {
  using mtasts::dane::Level;
  Dir dir;
  const auto primary_path = (dir.path / "primary.db").string();
  const auto local_path = (dir.path / "local.db").string();
  {
    SqliteStore primary(primary_path);
    primary.save_dane(dane_result("shared.example", 10, Level::dane_only));
    primary.flush();
    SqliteStore local(local_path);
    local.save_dane(dane_result("mine.example", 10, Level::dane));
    local.flush();
  }
  {
    TieredStore tiered(std::make_unique<SqliteStore>(primary_path),
                       std::make_unique<SqliteStore>(local_path));
    auto shared = fetch_dane(tiered, "shared.example");
    REQUIRE(shared.has_value());
    CHECK(shared->level == Level::dane_only);
    auto mine = fetch_dane(tiered, "mine.example");
    REQUIRE(mine.has_value());
    CHECK(mine->level == Level::dane);
    CHECK_FALSE(fetch_dane(tiered, "nowhere.example").has_value());
    tiered.flush();
  }
  SqliteStore local(local_path);
  auto copied = fetch_dane(local, "shared.example");  // the copy made on the primary hit
  REQUIRE(copied.has_value());
  CHECK(copied->level == Level::dane_only);
}
