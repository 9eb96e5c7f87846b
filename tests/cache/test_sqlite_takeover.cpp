// SqliteStore opening postfix-mta-sts-resolver's database (issue 13): its
// policies are taken over, its tables are left exactly as they were, and the
// file stays usable by the Python daemon (an admin may switch back).
#include <doctest/doctest.h>
#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>
#include <sqlite3.h>
#include <sys/mount.h>
#include <unistd.h>

#include <chrono>
#include <ctime>
#include <filesystem>
#include <map>
#include <sstream>
#include <thread>

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

// One row per line, every column as text: what "left as it was" is compared by.
std::string dump(const fs::path& file, const std::string& sql) {
  sqlite3* db = nullptr;
  REQUIRE(sqlite3_open(file.c_str(), &db) == SQLITE_OK);
  std::string out;
  sqlite3_exec(
      db, sql.c_str(),
      [](void* arg, int n, char** values, char**) {
        auto& text = *static_cast<std::string*>(arg);
        for (int i = 0; i < n; ++i) text.append(values[i] ? values[i] : "NULL").append("|");
        text.append("\n");
        return 0;
      },
      &out, nullptr);
  sqlite3_close(db);
  return out;
}

// sqlite_cache.py's setup(), 1.1.2 and 1.5.0 alike, run the way it runs it.
const std::string kResolverSchema =
    "PRAGMA journal_mode=WAL;"
    "PRAGMA synchronous=NORMAL;"
    "create table if not exists proactive_fetch_ts "
    "(id integer primary key, last_fetch_ts integer);"
    "create table if not exists sts_policy_cache "
    "(domain text, ts integer, pol_id text, pol_body text);"
    "create unique index if not exists sts_policy_domain on sts_policy_cache (domain);"
    "create index if not exists sts_policy_domain_ts on sts_policy_cache (domain, ts);";

std::string enforce_json(const std::string& domain) {
  return R"({"mx": ["mail.)" + domain + R"(", "*.backup.)" + domain +
         R"("], "version": "STSv1", "mode": "enforce", "max_age": 86400})";
}

std::string insert(const std::string& domain, std::int64_t ts, const std::string& id,
                   const std::string& body) {
  std::string quoted;
  for (char c : body) {
    quoted += c;
    if (c == '\'') quoted += '\'';
  }
  return "insert into sts_policy_cache (domain, ts, pol_id, pol_body) values ('" + domain + "', " +
         std::to_string(ts) + ", '" + id + "', '" + quoted + "');";
}

// A small tmpfs of its own (remounted read-only by the test), removed afterwards.
struct Tmpfs {
  std::string dir;
  Tmpfs() {
    char pattern[] = "/tmp/mtasts-takeover-ro-XXXXXX";
    REQUIRE(::mkdtemp(pattern) != nullptr);
    dir = pattern;
    REQUIRE(::mount("tmpfs", dir.c_str(), "tmpfs", 0, "size=4m") == 0);
  }
  ~Tmpfs() {
    ::umount2(dir.c_str(), MNT_DETACH);
    ::rmdir(dir.c_str());
  }
  bool remount(unsigned long flags) {
    return ::mount("tmpfs", dir.c_str(), "tmpfs", MS_REMOUNT | flags, "size=4m") == 0;
  }
};

constexpr const char* kResolverRows =
    "SELECT rowid, domain, ts, pol_id, pol_body FROM sts_policy_cache ORDER BY rowid";

}  // namespace

TEST_CASE("postfix-mta-sts-resolver's database is taken over in place, its table untouched") {
  TempDir dir;
  const auto file = dir.path / "cache.db";
  const auto now = unix_now();
  raw_sql(file, kResolverSchema +
                    insert("one.example", now - 600, "20240101", enforce_json("one.example")) +
                    insert("two.example", now - 60, "abc123", enforce_json("two.example")) +
                    "insert into proactive_fetch_ts (id, last_fetch_ts) values (1, " +
                    std::to_string(now - 30) + ");");
  const auto before = dump(file, kResolverRows);
  const auto before_ts = dump(file, "SELECT * FROM proactive_fetch_ts");
  Capture log{spdlog::level::debug};
  {
    SqliteStore store(file.string());
    CHECK_FALSE(store.moved_aside().has_value());
    CHECK_FALSE(store.read_only());
    auto loaded = loaded_policies(store);
    REQUIRE(loaded.size() == 2);
    const auto& one = loaded.at("one.example");
    CHECK(one.txt_id == "20240101");
    CHECK(one.fetched_at == now - 600);
    CHECK(one.checked_at == now - 600);
    CHECK(one.expires_at == now - 600 + 86400);
    CHECK(one.policy.mode == mtasts::sts::Mode::enforce);
    CHECK(one.policy.mx == std::vector<std::string>{"mail.one.example", "*.backup.one.example"});
    CHECK(one.body ==
          "version: STSv1\nmode: enforce\nmx: mail.one.example\nmx: *.backup.one.example\n"
          "max_age: 86400\n");
    // A memory miss reads the same record.
    bool answered = false;
    store.fetch("two.example", [&](mtasts::cache::PolicyRead got_read) {
      std::optional<CachedPolicy> got = std::move(got_read.record);
      answered = true;
      REQUIRE(got.has_value());
      CHECK(got->txt_id == "abc123");
    });
    CHECK(answered);
  }
  CHECK(
      log.contains("took over 2 policies from postfix-mta-sts-resolver's table sts_policy_cache"));
  CHECK(log.contains("skipped 0: 0 expired"));
  CHECK_FALSE(log.contains("moved it aside"));
  CHECK(fs::exists(file));
  CHECK(dump(file, kResolverRows) == before);
  CHECK(dump(file, "SELECT * FROM proactive_fetch_ts") == before_ts);
  // Its indexes too.
  CHECK(dump(file,
             "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = "
             "'sts_policy_cache' ORDER BY name") == "sts_policy_domain|\nsts_policy_domain_ts|\n");
}

TEST_CASE("expired and bad entries are skipped, each bad one named, the rest taken over") {
  TempDir dir;
  const auto file = dir.path / "cache.db";
  const auto now = unix_now();
  raw_sql(file, kResolverSchema +
                    insert("good.example", now - 10, "id1", enforce_json("good.example")) +
                    insert("old.example", now - 86400 - 5, "id1", enforce_json("old.example")) +
                    insert("broken.example", now - 10, "id1", R"({"mx": ["mail.broken.example")") +
                    insert("age.example", now - 10, "id1",
                           R"({"mx": ["m.age.example"], "version": "STSv1", "mode": "enforce", )"
                           R"("max_age": -3})") +
                    insert("future.example", now + 86400, "id1", enforce_json("future.example")) +
                    "insert into sts_policy_cache values ('nots.example', 'yesterday', 'id1', '" +
                    enforce_json("nots.example") + "');" +
                    "insert into sts_policy_cache values ('nullbody.example', " +
                    std::to_string(now) + ", 'id1', NULL);");
  Capture log{spdlog::level::debug};
  SqliteStore store(file.string());
  auto loaded = loaded_policies(store);
  CHECK(loaded.size() == 1);
  CHECK(loaded.count("good.example") == 1);
  CHECK(log.contains("took over 1 policies"));
  CHECK(log.contains("skipped 6: 1 expired (not revived), 5 unusable"));
  CHECK(log.contains("entry for 'broken.example' not taken over: pol_body is not JSON"));
  CHECK(log.contains("entry for 'age.example' not taken over: max_age -3 is not a whole number"));
  CHECK(log.contains("entry for 'future.example' not taken over: ts"));
  CHECK(log.contains("in the future"));
  CHECK(log.contains("entry for 'nots.example' not taken over: ts is not a number"));
  CHECK(log.contains("entry for 'nullbody.example' not taken over: pol_body is not JSON"));
  CHECK_FALSE(log.contains("'old.example' not taken over"));  // expiry is normal: counted only
}

TEST_CASE("each entry is considered once: a purged domain stays purged, a re-learned one returns") {
  TempDir dir;
  const auto file = dir.path / "cache.db";
  const auto now = unix_now();
  raw_sql(file, kResolverSchema + insert("a.example", now - 100, "id1", enforce_json("a.example")) +
                    insert("b.example", now - 100, "id1", enforce_json("b.example")));
  {
    SqliteStore store(file.string());
    CHECK(loaded_policies(store).size() == 2);
    store.remove("a.example");  // mta-stsctl purge
    store.flush();
  }
  {
    Capture log{spdlog::level::debug};
    SqliteStore store(file.string());
    auto loaded = loaded_policies(store);
    CHECK(loaded.count("a.example") == 0);
    CHECK(loaded.count("b.example") == 1);
    CHECK(log.contains("nothing new in postfix-mta-sts-resolver's table"));
  }
  // The admin switched back: the Python daemon re-learned a.example (a new ts).
  raw_sql(file, "update sts_policy_cache set ts = " + std::to_string(now - 5) +
                    ", pol_id = 'id2' where domain = 'a.example';");
  {
    Capture log{spdlog::level::debug};
    SqliteStore store(file.string());
    auto loaded = loaded_policies(store);
    REQUIRE(loaded.count("a.example") == 1);
    CHECK(loaded.at("a.example").txt_id == "id2");
    CHECK(loaded.at("a.example").fetched_at == now - 5);
    CHECK(log.contains("took over 1 policies"));
  }
}

TEST_CASE("a policy this daemon checked more recently is not replaced by an older entry") {
  TempDir dir;
  const auto file = dir.path / "cache.db";
  const auto now = unix_now();
  raw_sql(file, kResolverSchema);
  {
    SqliteStore store(file.string());
    CachedPolicy ours;
    ours.domain = "c.example";
    ours.txt_id = "ours1";
    ours.body = "version: STSv1\nmode: enforce\nmx: ours.c.example\nmax_age: 86400\n";
    ours.fetched_at = now - 50;
    ours.checked_at = now - 20;
    ours.expires_at = now - 50 + 86400;
    store.save(ours);
    store.flush();
  }
  raw_sql(file, insert("c.example", now - 30, "theirs1", enforce_json("c.example")));
  Capture log{spdlog::level::debug};
  SqliteStore store(file.string());
  auto loaded = loaded_policies(store);
  REQUIRE(loaded.count("c.example") == 1);
  CHECK(loaded.at("c.example").txt_id == "ours1");
  CHECK(log.contains("1 older than this daemon's own"));
}

TEST_CASE("the Python daemon can open, read and write the file after the takeover") {
  TempDir dir;
  const auto file = dir.path / "cache.db";
  const auto now = unix_now();
  raw_sql(file, kResolverSchema + insert("d.example", now - 100, "id1", enforce_json("d.example")));
  {
    SqliteStore store(file.string());
    CHECK(loaded_policies(store).size() == 1);
  }
  // Its setup() again, then its get(), set() (insert and update) and scan().
  raw_sql(file, kResolverSchema);
  CHECK(dump(file, "select ts, pol_id from sts_policy_cache where domain='d.example'") ==
        std::to_string(now - 100) + "|id1|\n");
  raw_sql(file, insert("e.example", now, "id9", enforce_json("e.example")) +
                    "update sts_policy_cache set ts = " + std::to_string(now) +
                    " where domain = 'd.example' and ts < " + std::to_string(now) + ";");
  CHECK(dump(file, "select rowid, domain from sts_policy_cache where rowid between 1 and 10") ==
        "1|d.example|\n2|e.example|\n");
  // And mta-stsd again: e.example is new, d.example re-checked.
  Capture log{spdlog::level::debug};
  SqliteStore store(file.string());
  CHECK(loaded_policies(store).size() == 2);
  CHECK(log.contains("took over 2 policies"));
}

TEST_CASE("a table named sts_policy_cache of another layout is not taken for the resolver's") {
  TempDir dir;
  const auto file = dir.path / "cache.db";
  raw_sql(file, "CREATE TABLE sts_policy_cache (domain TEXT, ts INTEGER);");
  Capture log{spdlog::level::debug};
  SqliteStore store(file.string());
  CHECK(store.moved_aside().has_value());
  CHECK(log.contains("lacks postfix-mta-sts-resolver's columns"));
}

TEST_CASE("a resolver file that cannot be written is read in place, taken over once it can") {
  Tmpfs disk;
  const fs::path file = disk.dir + "/cache.db";
  const auto now = unix_now();
  raw_sql(file, kResolverSchema +
                    insert("ro.example", now - 100, "id1", enforce_json("ro.example")) +
                    insert("gone.example", now - 90000, "id1", enforce_json("gone.example")) +
                    insert("bad.example", now - 10, "id1", "{"));
  // As the Python daemon leaves it when it stops: the WAL checkpointed away.
  raw_sql(file, "PRAGMA journal_mode=DELETE;");
  const auto before = dump(file, kResolverRows);
  REQUIRE(disk.remount(MS_RDONLY));
  Capture log{spdlog::level::debug};
  SqliteStore store(file.string(), std::chrono::milliseconds(100));
  CHECK(store.read_only());
  CHECK_FALSE(store.moved_aside().has_value());
  auto loaded = loaded_policies(store);
  REQUIRE(loaded.size() == 1);
  CHECK(loaded.at("ro.example").expires_at == now - 100 + 86400);
  CHECK(
      log.contains("read 1 policies of postfix-mta-sts-resolver in place (1 expired, 1 unusable)"));
  CHECK(log.contains("entry for 'bad.example' not used: pol_body is not JSON"));
  // Every list and census reads the table again: the count line is info once, then debug.
  CHECK(loaded_policies(store).size() == 1);
  const std::string line = "cache database " + file.string() + ": read 1 policies";
  CHECK(log.count("[info] " + line) == 1);
  CHECK(log.count("[debug] " + line) == 1);
  bool answered = false;
  store.fetch("ro.example", [&](mtasts::cache::PolicyRead got_read) {
    std::optional<CachedPolicy> got = std::move(got_read.record);
    answered = true;
    CHECK(got.has_value());
  });
  CHECK(answered);
  store.fetch("gone.example", [&](mtasts::cache::PolicyRead got_read) {
    std::optional<CachedPolicy> got = std::move(got_read.record);
    CHECK_FALSE(got);
  });

  // Writable again: the writer thread opens it, and the takeover proper happens.
  REQUIRE(disk.remount(0));
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(15);
  while (store.read_only() && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  CHECK_FALSE(store.read_only());
  CHECK(log.contains("took over 1 policies"));
  CHECK(loaded_policies(store).count("ro.example") == 1);
  CHECK(dump(file, kResolverRows) == before);
}
