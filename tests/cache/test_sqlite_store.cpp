// SqliteStore against real database files: round trips, and every way a file can
// be unusable (corrupt, truncated, foreign) without losing the daemon.
#include <doctest/doctest.h>
#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>
#include <sqlite3.h>
#include <unistd.h>

#include <ctime>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include "cache/sqlite_store.hpp"
#include "sqlite_test_support.hpp"
#include "store_records.hpp"
#include "support/log_capture.hpp"
#include "support/temp_dir.hpp"

using mtasts::cache::CachedPolicy;
using mtasts::cache::SqliteStore;
namespace fs = std::filesystem;

using mtasts_test::loaded_policies;
using mtasts_test::raw_sql;
using mtasts_test::TempDir;
using mtasts_test::unix_now;

using Capture = mtasts_test::LogCapture;

namespace {

CachedPolicy policy(const std::string& domain, std::int64_t fetched_at = 1'700'000'000) {
  CachedPolicy p;
  p.domain = domain;
  p.txt_id = "id" + std::to_string(domain.size());
  p.body = "version: STSv1\nmode: enforce\nmx: mx." + domain + "\nmax_age: 86400\n";
  p.fetched_at = fetched_at;
  p.checked_at = fetched_at + 5;
  p.expires_at = fetched_at + 86400;
  return p;
}

std::vector<fs::path> moved_aside(const fs::path& dir) {
  std::vector<fs::path> out;
  for (const auto& entry : fs::directory_iterator(dir)) {
    if (entry.path().filename().string().find(".unreadable-") != std::string::npos &&
        entry.path().extension() != ".db-wal") {
      out.push_back(entry.path());
    }
  }
  return out;
}

}  // namespace

TEST_CASE("a database in a directory that does not exist yet: the directory is made") {
  TempDir dir;
  const auto file = (dir.path / "sub" / "cache.db").string();
  {
    SqliteStore store(file);
    REQUIRE(store.usable());
    store.save(policy("a.example"));
    store.flush();
  }
  SqliteStore again(file);
  CHECK(loaded_policies(again).size() == 1);
}

TEST_CASE("writes reach the file without flush within the commit interval") {
  TempDir dir;
  const auto file = (dir.path / "cache.db").string();
  SqliteStore store(file);
  store.save(policy("late.example"));
  // A second reader sees the committed row (WAL) without the writer closing.
  bool seen = false;
  for (int i = 0; i < 50 && !seen; ++i) {
    ::usleep(50'000);
    sqlite3* db = nullptr;
    REQUIRE(sqlite3_open_v2(file.c_str(), &db, SQLITE_OPEN_READONLY, nullptr) == SQLITE_OK);
    sqlite3_stmt* stmt = nullptr;
    if (sqlite3_prepare_v2(db, "SELECT count(*) FROM policies", -1, &stmt, nullptr) == SQLITE_OK &&
        sqlite3_step(stmt) == SQLITE_ROW) {
      seen = sqlite3_column_int(stmt, 0) == 1;
    }
    sqlite3_finalize(stmt);
    sqlite3_close(db);
  }
  CHECK(seen);
}

TEST_CASE("fetch reads its own writes before the writer commits them (issue 16)") {
  TempDir dir;
  SqliteStore store((dir.path / "cache.db").string());
  auto fetch = [&](const std::string& domain) {
    std::optional<CachedPolicy> got;
    store.fetch(domain, [&](mtasts::cache::PolicyRead p_read) {
      std::optional<CachedPolicy> p = std::move(p_read.record);
      got = std::move(p);
    });
    return got;
  };
  const auto now = static_cast<std::int64_t>(std::time(nullptr));
  // Saved a moment ago, not yet committed (the writer batches for 200 ms): a
  // memory miss right now must still find it.
  store.save(policy("fresh.example", now));
  auto got = fetch("fresh.example");
  REQUIRE(got.has_value());
  CHECK(got->policy.mx.at(0) == "mx.fresh.example");  // parsed and checked like a row
  store.remove("fresh.example");
  CHECK_FALSE(fetch("fresh.example").has_value());
  store.save(policy("fresh.example", now + 1));
  store.flush();
  // Committed: read from the file, the same record.
  got = fetch("fresh.example");
  REQUIRE(got.has_value());
  CHECK(got->fetched_at == now + 1);
  // A record that fails the checks is not answered from memory either.
  auto stretched = policy("stretched.example", now);
  stretched.expires_at = now + 10 * 86400;  // past fetched_at + max_age
  store.save(stretched);
  CHECK_FALSE(fetch("stretched.example").has_value());
}

TEST_CASE("a file that is not a database is moved aside, kept, and replaced") {
  TempDir dir;
  const auto file = dir.path / "cache.db";
  { std::ofstream(file) << "this is not a database, just text that someone left here\n"; }
  SqliteStore store(file.string());
  CHECK(store.usable());
  REQUIRE(store.moved_aside().has_value());
  auto aside = moved_aside(dir.path);
  REQUIRE(aside.size() == 1);
  std::ifstream kept(aside[0]);
  std::string first;
  std::getline(kept, first);
  CHECK(first.rfind("this is not a database", 0) == 0);
  store.save(policy("fresh.example"));
  store.flush();
  CHECK(loaded_policies(store).size() == 1);
}

TEST_CASE("a truncated database is moved aside") {
  TempDir dir;
  const auto file = dir.path / "cache.db";
  {
    SqliteStore store(file.string());
    for (int i = 0; i < 200; ++i) store.save(policy("d" + std::to_string(i) + ".example"));
    store.flush();
  }
  fs::remove(dir.path / "cache.db-wal");
  fs::remove(dir.path / "cache.db-shm");
  const auto size = fs::file_size(file);
  REQUIRE(size > 8192);
  fs::resize_file(file, size / 3);
  SqliteStore store(file.string());
  CHECK(store.usable());
  CHECK(store.moved_aside().has_value());
  CHECK(loaded_policies(store).empty());
}

TEST_CASE("a database of another program is moved aside, not written into") {
  TempDir dir;
  const auto file = dir.path / "cache.db";
  {
    sqlite3* db = nullptr;
    REQUIRE(sqlite3_open(file.c_str(), &db) == SQLITE_OK);
    REQUIRE(sqlite3_exec(db,
                         "CREATE TABLE sts_policy_cache (domain TEXT, ts INTEGER);"
                         "INSERT INTO sts_policy_cache VALUES ('x', 1);",
                         nullptr, nullptr, nullptr) == SQLITE_OK);
    sqlite3_close(db);
  }
  SqliteStore store(file.string());
  CHECK(store.usable());
  CHECK(store.moved_aside().has_value());
  CHECK(moved_aside(dir.path).size() == 1);
}

TEST_CASE("hand-damaged rows are skipped, the rest load") {
  TempDir dir;
  const auto file = dir.path / "cache.db";
  {
    SqliteStore store(file.string());
    store.save(policy("good.example"));
    store.save(policy("bad.example"));
    store.save(policy("badid.example"));
    store.flush();
  }
  {
    sqlite3* db = nullptr;
    REQUIRE(sqlite3_open(file.c_str(), &db) == SQLITE_OK);
    REQUIRE(sqlite3_exec(db,
                         "UPDATE policies SET body = 'mode: whatever' WHERE domain = 'bad.example'",
                         nullptr, nullptr, nullptr) == SQLITE_OK);
    // §3.1 ids are 1-32 letters or digits; this one no TXT record can match.
    REQUIRE(sqlite3_exec(db, "UPDATE policies SET txt_id = 'a b;c' WHERE domain = 'badid.example'",
                         nullptr, nullptr, nullptr) == SQLITE_OK);
    sqlite3_close(db);
  }
  SqliteStore store(file.string());
  auto loaded = loaded_policies(store);
  CHECK(loaded.size() == 1);
  CHECK(loaded.count("good.example") == 1);
  bool answered = false;
  store.fetch("badid.example", [&](mtasts::cache::PolicyRead got_read) {
    std::optional<CachedPolicy> got = std::move(got_read.record);
    answered = true;
    CHECK_FALSE(got.has_value());
  });
  CHECK(answered);
}

TEST_CASE("a path that cannot be created leaves the store detached, not crashing") {
  SqliteStore store("/proc/mtasts-cannot-exist/cache.db");
  CHECK_FALSE(store.usable());
  store.save(policy("x.example"));  // ignored, no crash
  store.flush();
  CHECK(loaded_policies(store).empty());
}

// ---- issue 16: rows are checked on the way in -----------------------------------------

namespace {}  // namespace

TEST_CASE(
    "rows that stretch a policy past max_age, come from the future or do not parse are ignored") {
  TempDir dir;
  const auto file = dir.path / "cache.db";
  const auto now = unix_now();
  {
    SqliteStore store(file.string());
    store.save(policy("good.example", now - 10));
    store.flush();
  }
  const auto row = [](const std::string& domain, const std::string& body, std::int64_t fetched,
                      const std::string& expires) {
    return "INSERT INTO policies VALUES ('" + domain + "', 'id1', '" + body + "', " +
           std::to_string(fetched) + ", " + expires + ", " + std::to_string(fetched) + ");";
  };
  const std::string max_age_one = "version: STSv1\nmode: enforce\nmx: mx.example\nmax_age: 1\n";
  const std::string day = "version: STSv1\nmode: enforce\nmx: mx.example\nmax_age: 86400\n";
  // RFC 8461 §3.2: a policy lives at most max_age from its fetch.
  raw_sql(file, row("stretched.example", max_age_one, now - 10, "9223372036854775807"));
  raw_sql(file, row("future.example", day, now + 86400, std::to_string(now + 2 * 86400)));
  raw_sql(file, row("unparsable.example", "version: STSv1\nmode: enforce\nmx: a\n", now - 10,
                    std::to_string(now + 10)));
  raw_sql(file, row("skewed.example", day, now + 60, std::to_string(now + 60 + 86400)));

  Capture log;
  SqliteStore store(file.string());
  auto loaded = loaded_policies(store);
  CHECK(loaded.size() == 2);
  CHECK(loaded.count("good.example") == 1);
  CHECK(loaded.count("skewed.example") == 1);  // within the allowed clock skew
  CHECK(log.count("'stretched.example': expires_at 9223372036854775807 is past") == 1);
  CHECK(log.count("'future.example': fetched in the future") == 1);
  CHECK(log.count("'unparsable.example': invalid policy") == 1);
  for (const char* domain : {"stretched.example", "future.example", "unparsable.example"}) {
    bool answered = false;
    store.fetch(domain, [&](mtasts::cache::PolicyRead got_read) {
      std::optional<CachedPolicy> got = std::move(got_read.record);
      answered = true;
      CHECK_MESSAGE(!got.has_value(), domain);
    });
    CHECK(answered);
  }
  // Logged once: at the load, not again on each miss.
  CHECK(log.count("stretched.example") == 1);
}

TEST_CASE("a row's name is logged escaped: a domain with a line end cannot forge log lines") {
  TempDir dir;
  const auto file = dir.path / "cache.db";
  {
    SqliteStore store(file.string());
    store.save(policy("good.example"));
    store.flush();
  }
  raw_sql(file,
          "INSERT INTO policies VALUES ('evil.example' || char(10) || '[error] forged', 'id1', "
          "'junk', 1, 2, 1);");
  Capture log;
  SqliteStore store(file.string());
  CHECK(loaded_policies(store).size() == 1);
  CHECK(log.count("'evil.example\\x0a[error] forged'") == 1);
  CHECK(log.count("\n[error] forged") == 0);
}

TEST_CASE("a read the database cannot answer is 'cannot tell', never 'no policy' (issue 16)") {
  TempDir dir;
  const auto file = dir.path / "cache.db";
  Capture log;
  SqliteStore store(file.string());
  store.save(policy("one.example"));
  store.flush();
  REQUIRE(store.unwritten() == 0);
  // Another hand damages the schema under the running store.
  raw_sql(file, "DROP TABLE policies");
  std::optional<mtasts::cache::PolicyRead> got;
  store.fetch("one.example", [&](mtasts::cache::PolicyRead read) { got = std::move(read); });
  REQUIRE(got.has_value());
  CHECK_FALSE(got->record.has_value());
  CHECK(got->unknown());
  CHECK(got->failure.find("cannot be read") != std::string::npos);
  CHECK(got->failure.find("no such table") != std::string::npos);
  CHECK(log.count("cannot be read: no such table: policies (looking up 'one.example')") == 1);
  // Logged once, however often it is read.
  store.fetch("one.example", [&](mtasts::cache::PolicyRead read) { got = std::move(read); });
  CHECK(got->unknown());
  CHECK(log.count("cannot be read") == 1);
  // Counted every time, for mtastsd_store_errors_total.
  const auto errors = store.error_counts();
  REQUIRE(errors.size() == 1);
  CHECK(errors[0].backend == "sqlite");
  CHECK(errors[0].reads == 2);
  CHECK(errors[0].writes == 0);
}

TEST_CASE("the policies due for refresh are listed from the file; a confirmation moves them on") {
  TempDir dir;
  const auto now = unix_now();
  SqliteStore store((dir.path / "cache.db").string());
  auto at = [&](const std::string& domain, std::int64_t fetched, std::int64_t checked,
                std::int64_t max_age) {
    auto p = policy(domain, fetched);
    p.checked_at = checked;
    p.expires_at = fetched + max_age;
    p.body = "version: STSv1\nmode: enforce\nmx: mx." + domain +
             "\nmax_age: " + std::to_string(max_age) + "\n";
    store.save(p);
  };
  at("fresh.example", now - 100, now - 100, 86400);        // checked lately
  at("old-check.example", now - 5000, now - 5000, 86400);  // checked long ago
  at("expiring.example", now - 80000, now - 10, 86400);    // expires within the horizon
  at("aging.example", now - 50000, now - 5000, 86400);     // past half its max_age
  at("expired.example", now - 90000, now - 90000, 86400);  // nothing to refresh
  store.flush();
  auto list = [&](std::size_t limit) {
    std::map<std::string, mtasts::cache::PolicyStore::RefreshDue> out;
    store.due_for_refresh(now, now - 1800, now + 7200, limit,
                          [&](std::vector<mtasts::cache::PolicyStore::RefreshDue> due) {
                            for (auto& d : due) out.emplace(d.domain, d);
                          });
    return out;
  };
  auto due = list(100);
  CHECK(due.size() == 3);
  REQUIRE(due.count("old-check.example") == 1);
  CHECK_FALSE(due["old-check.example"].expiring_or_aging);  // the TXT id decides
  CHECK(due["old-check.example"].txt_id == policy("old-check.example").txt_id);
  REQUIRE(due.count("expiring.example") == 1);
  CHECK(due["expiring.example"].expiring_or_aging);  // refetched whatever the id
  REQUIRE(due.count("aging.example") == 1);
  CHECK(due["aging.example"].expiring_or_aging);
  CHECK(list(1).size() == 1);  // bounded

  // An unchanged id confirmed: that row is not due again. Another id changes nothing.
  store.confirm("old-check.example", policy("old-check.example").txt_id, now);
  store.confirm("aging.example", "some-other-id", now);
  store.flush();
  due = list(100);
  CHECK(due.count("old-check.example") == 0);
  CHECK(due.count("aging.example") == 1);
  CHECK(loaded_policies(store)["old-check.example"].checked_at == now);
}

TEST_CASE("list_policies: the file's unexpired rows, with what the writer has not committed") {
  // mta-stsctl list reads it for the policies memory dropped (cache_size).
  TempDir dir;
  const auto now = unix_now();
  SqliteStore store((dir.path / "cache.db").string());
  store.save(policy("kept.example", now - 100));
  store.save(policy("removed.example", now - 100));
  auto expired = policy("expired.example", now - 90000);
  expired.expires_at = now - 10;
  store.save(expired);
  store.flush();
  // Not committed yet (read your writes): a new policy, a replaced one, a removal.
  store.save(policy("new.example", now - 5));
  auto replaced = policy("kept.example", now - 5);
  replaced.txt_id = "replaced";
  store.save(replaced);
  store.remove("removed.example");
  std::map<std::string, CachedPolicy> listed;
  store.list_policies(now, 100, [&](std::vector<CachedPolicy> all) {
    for (auto& p : all) listed.emplace(p.domain, std::move(p));
  });
  CHECK(listed.size() == 2);
  REQUIRE(listed.count("kept.example") == 1);
  CHECK(listed["kept.example"].txt_id == "replaced");
  CHECK(listed.count("new.example") == 1);
  std::size_t bounded = 0;
  store.list_policies(now, 1, [&](std::vector<CachedPolicy> all) { bounded = all.size(); });
  CHECK(bounded == 1);
}
