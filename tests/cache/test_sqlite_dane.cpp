// SqliteStore's DANE results (RFC 7672) against real database files: round
// trips across a restart, removal with the domain's policy, the start-up purge
// of results past keep_until, damaged rows, and databases written before the
// DANE table existed.
#include <doctest/doctest.h>
#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>
#include <sqlite3.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <map>
#include <sstream>

#include "cache/sqlite_store.hpp"
#include "sqlite_test_support.hpp"
#include "store_records.hpp"
#include "support/log_capture.hpp"
#include "support/temp_dir.hpp"

using mtasts::cache::CachedDane;
using mtasts::cache::CachedPolicy;
using mtasts::cache::SqliteStore;
using mtasts::dane::Level;
namespace fs = std::filesystem;

using mtasts_test::check_same;
using mtasts_test::raw_sql;
using mtasts_test::TempDir;
using mtasts_test::unix_now;

using mtasts_test::LogCapture;

namespace {

CachedDane result(const std::string& destination, Level level = Level::dane_only,
                  std::int64_t fetched_at = unix_now()) {
  CachedDane d;
  d.destination = destination;
  d.level = level;
  d.summary = "mx1." + destination + " secure, TLSA 3 1 1 usable";
  d.fetched_at = fetched_at;
  d.expires_at = fetched_at + 300;
  d.keep_until = d.expires_at + 3600;
  return d;
}

CachedPolicy policy(const std::string& domain) {
  CachedPolicy p;
  p.domain = domain;
  p.txt_id = "id1";
  p.body = "version: STSv1\nmode: enforce\nmx: mx." + domain + "\nmax_age: 86400\n";
  p.fetched_at = unix_now();
  p.checked_at = p.fetched_at;
  p.expires_at = p.fetched_at + 86400;
  return p;
}

std::map<std::string, CachedDane> load_dane(SqliteStore& store) {
  std::map<std::string, CachedDane> out;
  store.load_all_dane([&](CachedDane d) { out.emplace(d.destination, std::move(d)); });
  return out;
}

std::optional<CachedDane> fetch_dane(SqliteStore& store, const std::string& destination) {
  std::optional<CachedDane> out;
  int calls = 0;
  store.fetch_dane(destination, [&](mtasts::cache::DaneRead d_read) {
    std::optional<CachedDane> d = std::move(d_read.record);
    ++calls;
    out = std::move(d);
  });
  CHECK(calls == 1);
  return out;
}

std::size_t count_policies(SqliteStore& store) {
  std::size_t n = 0;
  store.load_all([&](CachedPolicy) { ++n; });
  return n;
}

long long raw_count(const fs::path& file, const std::string& sql) {
  sqlite3* db = nullptr;
  REQUIRE(sqlite3_open_v2(file.c_str(), &db, SQLITE_OPEN_READONLY, nullptr) == SQLITE_OK);
  sqlite3_stmt* stmt = nullptr;
  long long n = -1;
  if (sqlite3_prepare_v2(db, sql.c_str(), -1, &stmt, nullptr) == SQLITE_OK &&
      sqlite3_step(stmt) == SQLITE_ROW) {
    n = sqlite3_column_int64(stmt, 0);
  }
  sqlite3_finalize(stmt);
  sqlite3_close(db);
  return n;
}

// The schema mta-stsd wrote before DANE support, with one policy in it.
void write_old_database(const fs::path& file) {
  const auto p = policy("old.example");
  raw_sql(file,
          "CREATE TABLE mta_stsd_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);"
          "INSERT INTO mta_stsd_meta VALUES ('schema', 'mta-stsd-policies/1');"
          "CREATE TABLE policies (domain TEXT PRIMARY KEY, txt_id TEXT NOT NULL,"
          "  body TEXT NOT NULL, fetched_at INTEGER NOT NULL, expires_at INTEGER NOT NULL,"
          "  checked_at INTEGER NOT NULL) WITHOUT ROWID;"
          "INSERT INTO policies VALUES ('old.example', 'id1', '" +
              p.body + "', " + std::to_string(p.fetched_at) + ", " + std::to_string(p.expires_at) +
              ", " + std::to_string(p.checked_at) + ");");
}

}  // namespace

TEST_CASE("results past keep_until are deleted when the store opens; stale ones stay") {
  TempDir dir;
  const auto file = dir.path / "cache.db";
  const auto now = unix_now();
  auto stale = result("stale.example", Level::dane_only, now - 1000);  // expired, still kept
  stale.expires_at = now - 700;
  stale.keep_until = now + 100;
  auto dead = result("dead.example", Level::dane_only, now - 5000);
  dead.expires_at = now - 4000;
  dead.keep_until = now - 1;
  {
    SqliteStore store(file.string());
    store.save_dane(stale);
    store.save_dane(dead);
    store.save_dane(result("fresh.example"));
    store.flush();
    // Written as given: the purge is a start-up job, not a write-time one.
    CHECK(load_dane(store).size() == 3);
  }
  LogCapture log;
  SqliteStore reopened(file.string());
  auto loaded = load_dane(reopened);
  CHECK(loaded.size() == 2);
  CHECK(loaded.count("dead.example") == 0);
  REQUIRE(loaded.count("stale.example") == 1);
  check_same(loaded.at("stale.example"), stale);
  CHECK(log.count("dropped 1 DANE results past their keep time") == 1);
  CHECK(raw_count(file, "SELECT count(*) FROM dane WHERE destination = 'dead.example'") == 0);
}

TEST_CASE("damaged DANE rows are skipped with a log line; the rest load") {
  TempDir dir;
  const auto file = dir.path / "cache.db";
  {
    SqliteStore store(file.string());
    for (const char* name :
         {"good.example", "level.example", "order.example", "keep.example", "null.example"}) {
      store.save_dane(result(name));
    }
    store.flush();
  }
  raw_sql(file,
          "UPDATE dane SET level = 'dane-maybe' WHERE destination = 'level.example';"
          "UPDATE dane SET expires_at = fetched_at - 1 WHERE destination = 'order.example';"
          "UPDATE dane SET keep_until = expires_at - 1 WHERE destination = 'keep.example';"
          "UPDATE dane SET level = X'00ff' WHERE destination = 'null.example';"
          "INSERT INTO dane VALUES ('', 'dane', '', 1, 2, 99999999999);");
  LogCapture log;
  SqliteStore store(file.string());
  auto loaded = load_dane(store);
  CHECK(loaded.size() == 1);
  CHECK(loaded.count("good.example") == 1);
  CHECK(log.count("skipping unusable DANE row for 'level.example': unknown DANE level") == 1);
  CHECK(log.count(
            "skipping unusable DANE row for 'order.example': expires before it was looked up") ==
        1);
  CHECK(log.count("skipping unusable DANE row for 'keep.example': kept until before it expires") ==
        1);
  CHECK(log.count("skipping unusable DANE row for 'null.example'") == 1);
  CHECK(log.count("skipping unusable DANE row for ''") == 1);
  CHECK_FALSE(fetch_dane(store, "level.example").has_value());
  // Logged at the load already: a miss reading it again does not repeat it.
  CHECK(log.count("ignoring unusable DANE row for 'level.example'") == 0);
  CHECK(fetch_dane(store, "good.example").has_value());
}

TEST_CASE("a database from before DANE support keeps its policies and gains the table") {
  TempDir dir;
  const auto file = dir.path / "cache.db";
  write_old_database(file);
  {
    SqliteStore store(file.string());
    CHECK(store.usable());
    CHECK_FALSE(store.moved_aside().has_value());
    CHECK(count_policies(store) == 1);
    CHECK(load_dane(store).empty());
    CHECK_FALSE(fetch_dane(store, "old.example").has_value());
    store.save_dane(result("old.example"));
    store.flush();
  }
  CHECK(raw_count(file, "SELECT count(*) FROM dane") == 1);
  // The schema tag is unchanged, so the previous version still opens the file.
  CHECK(raw_count(file, "SELECT value = 'mta-stsd-policies/1' FROM mta_stsd_meta") == 1);
  SqliteStore again(file.string());
  CHECK_FALSE(again.moved_aside().has_value());
  CHECK(count_policies(again) == 1);
  CHECK(load_dane(again).size() == 1);
}

TEST_CASE("a detached store (no database) answers DANE calls with nothing") {
  SqliteStore store("/proc/mtasts-cannot-exist/cache.db");
  REQUIRE_FALSE(store.usable());
  store.save_dane(result("x.example"));
  store.flush();
  CHECK(load_dane(store).empty());
  CHECK_FALSE(fetch_dane(store, "x.example").has_value());
}
