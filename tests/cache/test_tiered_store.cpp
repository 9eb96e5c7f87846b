// TieredStore over two real SQLite stores: merging, fallback and the local copy.
#include <doctest/doctest.h>
#include <unistd.h>

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
