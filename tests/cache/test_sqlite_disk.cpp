// SqliteStore on a disk that fills up or turns read-only: a real tmpfs mounted
// by the test (the test suite runs as root). The daemon must keep every policy
// it has and say what is wrong, once.
#include <doctest/doctest.h>
#include <spdlog/sinks/base_sink.h>
#include <spdlog/spdlog.h>
#include <sqlite3.h>
#include <sys/mount.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <future>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "cache/sqlite_store.hpp"
#include "support/log_capture.hpp"
#include "support/temp_dir.hpp"

using mtasts::cache::CachedPolicy;
using mtasts::cache::SqliteStore;

using mtasts_test::LogCapture;
using mtasts_test::TempDir;

namespace {

// A small tmpfs of its own, unmounted and removed afterwards.
struct Tmpfs {
  std::string dir;
  explicit Tmpfs(const std::string& size) {
    char pattern[] = "/tmp/mtasts-disk-XXXXXX";
    REQUIRE(::mkdtemp(pattern) != nullptr);
    dir = pattern;
    const std::string options = "size=" + size;
    INFO("mount tmpfs: " << std::strerror(errno));
    REQUIRE(::mount("tmpfs", dir.c_str(), "tmpfs", 0, options.c_str()) == 0);
  }
  ~Tmpfs() {
    ::umount2(dir.c_str(), MNT_DETACH);
    ::rmdir(dir.c_str());
  }
  bool remount(unsigned long flags, const std::string& size) {
    const std::string options = "size=" + size;
    return ::mount("tmpfs", dir.c_str(), "tmpfs", MS_REMOUNT | flags, options.c_str()) == 0;
  }
};

CachedPolicy policy(int i) {
  CachedPolicy p;
  p.domain = "domain" + std::to_string(i) + ".example";
  p.txt_id = "id" + std::to_string(i);
  p.body = "version: STSv1\nmode: enforce\nmax_age: 604800\n";
  for (int k = 0; k < 20; ++k) p.body += "mx: mx" + std::to_string(k) + "." + p.domain + "\n";
  p.fetched_at = 1'700'000'000;
  p.checked_at = p.fetched_at;
  p.expires_at = p.fetched_at + 604800;
  return p;
}

bool wait_for(const std::function<bool()>& done, std::chrono::seconds limit) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (!done()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return true;
}

std::size_t count_loaded(SqliteStore& store) {
  std::size_t n = 0;
  store.load_all([&](CachedPolicy) { ++n; });
  return n;
}

}  // namespace

TEST_CASE("a full disk is logged once; the writes wait and land once there is room") {
  Tmpfs disk("192k");
  LogCapture log;
  const auto file = disk.dir + "/cache.db";
  constexpr int kPolicies = 600;  // about 600 KiB of rows: three times the disk
  {
    SqliteStore store(file);
    REQUIRE(store.usable());
    for (int i = 0; i < kPolicies; ++i) store.save(policy(i));
    CHECK(wait_for([&] { return log.count("cannot write") >= 1; }, std::chrono::seconds(10)));
    std::this_thread::sleep_for(std::chrono::seconds(3));  // a retry or two meanwhile
    CHECK(log.count("cannot write") == 1);                 // once, not per retry
    // Every failed transaction counts (mtastsd_store_errors_total): the retries too.
    CHECK(store.error_counts().at(0).writes >= 2);
    CHECK(store.error_counts().at(0).reads == 0);
    // Room again: the queued writes go through, nothing was dropped.
    REQUIRE(disk.remount(0, "16m"));
    CHECK(wait_for([&] { return log.count("writing again") == 1; }, std::chrono::seconds(10)));
    store.flush();
  }
  SqliteStore reopened(file);
  CHECK(reopened.moved_aside() == std::nullopt);
  CHECK(count_loaded(reopened) == kPolicies);
}

TEST_CASE("a read-only disk: the policies on it load, new ones stay in memory, nothing crashes") {
  Tmpfs disk("4m");
  const auto file = disk.dir + "/cache.db";
  {
    SqliteStore store(file);
    for (int i = 0; i < 50; ++i) store.save(policy(i));
    store.flush();
  }
  REQUIRE(disk.remount(MS_RDONLY, "4m"));
  LogCapture log;
  SqliteStore store(file);
  CHECK(store.usable());
  CHECK(store.read_only());
  CHECK_FALSE(store.moved_aside().has_value());
  CHECK(count_loaded(store) == 50);
  std::optional<CachedPolicy> one;
  store.fetch("domain7.example", [&](mtasts::cache::PolicyRead p_read) {
    std::optional<CachedPolicy> p = std::move(p_read.record);
    one = std::move(p);
  });
  CHECK(one.has_value());
  store.save(policy(1000));
  store.save(policy(1001));
  store.remove("domain1.example");
  store.flush();
  CHECK(log.count("read-only") >= 1);
  CHECK(log.count("and later policies are kept in memory only") == 1);  // saves: warned once
  CHECK(count_loaded(store) == 50);
  REQUIRE(disk.remount(0, "4m"));  // so the fixture can clean up
}

TEST_CASE("a read-only disk: DANE results on it load; an older database without them still works") {
  Tmpfs disk("4m");
  const auto file = disk.dir + "/cache.db";
  const auto old_file = disk.dir + "/old.db";
  mtasts::cache::CachedDane dane;
  dane.destination = "dane.example";
  dane.level = mtasts::dane::Level::dane_only;
  dane.summary = "mx.dane.example secure";
  dane.fetched_at = std::time(nullptr);
  dane.expires_at = dane.fetched_at + 300;
  dane.keep_until = dane.expires_at + 3600;
  {
    SqliteStore store(file);
    store.save(policy(1));
    store.save_dane(dane);
    store.flush();
  }
  {
    // The schema mta-stsd wrote before DANE support (in WAL mode, as it ran).
    sqlite3* db = nullptr;
    REQUIRE(sqlite3_open(old_file.c_str(), &db) == SQLITE_OK);
    const auto p = policy(2);
    const std::string sql =
        "PRAGMA journal_mode = WAL;"
        "CREATE TABLE mta_stsd_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);"
        "INSERT INTO mta_stsd_meta VALUES ('schema', 'mta-stsd-policies/1');"
        "CREATE TABLE policies (domain TEXT PRIMARY KEY, txt_id TEXT NOT NULL,"
        "  body TEXT NOT NULL, fetched_at INTEGER NOT NULL, expires_at INTEGER NOT NULL,"
        "  checked_at INTEGER NOT NULL) WITHOUT ROWID;"
        "INSERT INTO policies VALUES ('" +
        p.domain + "', 'id', '" + p.body + "', 1700000000, 1700604800, 1700000000);";
    REQUIRE(sqlite3_exec(db, sql.c_str(), nullptr, nullptr, nullptr) == SQLITE_OK);
    sqlite3_close(db);
  }
  REQUIRE(disk.remount(MS_RDONLY, "4m"));
  LogCapture log;
  {
    SqliteStore store(file);
    REQUIRE(store.read_only());
    std::size_t loaded = 0;
    store.load_all_dane([&](mtasts::cache::CachedDane d) {
      CHECK(d.destination == "dane.example");
      ++loaded;
    });
    CHECK(loaded == 1);
    std::optional<mtasts::cache::CachedDane> one;
    store.fetch_dane("dane.example", [&](auto d) { one = std::move(d.record); });
    CHECK(one.has_value());
  }
  {
    SqliteStore old(old_file);
    REQUIRE(old.read_only());
    CHECK(count_loaded(old) == 1);
    std::size_t loaded = 0;
    old.load_all_dane([&](mtasts::cache::CachedDane) { ++loaded; });
    CHECK(loaded == 0);
    bool called = false;
    old.fetch_dane("dane.example", [&](auto d) {
      called = true;
      CHECK_FALSE(d.record.has_value());
      CHECK_FALSE(d.unknown());  // a database from before DANE: none stored
    });
    CHECK(called);
    old.save_dane(dane);  // no table, no disk: memory only, quietly
    old.flush();
  }
  CHECK(log.count("cannot read DANE results") == 0);
  REQUIRE(disk.remount(0, "4m"));  // so the fixture can clean up
}

// ---- issue 16: a transient error at start-up never throws the store away --------------

namespace {

// Mounting needs root (CAP_SYS_ADMIN). Without it a test says it was skipped
// and why, rather than passing without having run.
struct OptionalTmpfs {
  std::string dir;
  std::string why_not;
  explicit OptionalTmpfs(const std::string& size) {
    char pattern[] = "/tmp/mtasts-disk-XXXXXX";
    REQUIRE(::mkdtemp(pattern) != nullptr);
    dir = pattern;
    const std::string options = "size=" + size;
    if (::mount("tmpfs", dir.c_str(), "tmpfs", 0, options.c_str()) != 0) {
      why_not =
          std::string("cannot mount a tmpfs (") + std::strerror(errno) + "): this test needs root";
    }
  }
  ~OptionalTmpfs() {
    if (why_not.empty()) ::umount2(dir.c_str(), MNT_DETACH);
    std::filesystem::remove_all(dir);
  }
  bool mounted() const { return why_not.empty(); }
};

std::vector<std::string> aside_files(const std::string& dir) {
  std::vector<std::string> out;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    const auto name = entry.path().filename().string();
    if (name.find(".unreadable-") != std::string::npos) out.push_back(name);
  }
  return out;
}

void raw_exec(sqlite3* db, const char* sql) {
  char* error = nullptr;
  const int rc = sqlite3_exec(db, sql, nullptr, nullptr, &error);
  INFO(sql << ": " << (error != nullptr ? error : ""));
  sqlite3_free(error);
  REQUIRE(rc == SQLITE_OK);
}

// Another process's connection holding the database's lock for `hold`.
class LockHolder {
 public:
  LockHolder(const std::string& file, const char* setup, std::chrono::milliseconds hold) {
    std::promise<void> locked;
    auto ready = locked.get_future();
    thread_ = std::thread([file, setup, hold, locked = std::move(locked)]() mutable {
      sqlite3* db = nullptr;
      sqlite3_open(file.c_str(), &db);
      sqlite3_exec(db, setup, nullptr, nullptr, nullptr);
      sqlite3_exec(db, "BEGIN EXCLUSIVE", nullptr, nullptr, nullptr);
      // Read something so the lock is really taken in every journal mode.
      sqlite3_exec(db, "SELECT count(*) FROM policies", nullptr, nullptr, nullptr);
      locked.set_value();
      std::this_thread::sleep_for(hold);
      sqlite3_exec(db, "COMMIT", nullptr, nullptr, nullptr);
      sqlite3_close(db);
    });
    ready.wait();
  }
  ~LockHolder() { thread_.join(); }

 private:
  std::thread thread_;
};

}  // namespace

TEST_CASE("a database another process holds locked at start-up is waited for, never moved aside") {
  struct Mode {
    const char* name;
    const char* journal;  // how the database was left
    const char* setup;    // the lock holder's connection
  };
  for (const Mode mode :
       {Mode{"rollback journal, BEGIN EXCLUSIVE", "PRAGMA journal_mode = DELETE", ""},
        Mode{"WAL, exclusive locking mode", "PRAGMA journal_mode = WAL",
             "PRAGMA locking_mode = EXCLUSIVE"}}) {
    CAPTURE(mode.name);
    TempDir temp("mtasts-locked");
    const auto file = temp.path.string() + "/cache.db";
    {
      SqliteStore store(file);
      for (int i = 0; i < 12; ++i) store.save(policy(i));
      store.flush();
    }
    {
      sqlite3* db = nullptr;
      REQUIRE(sqlite3_open(file.c_str(), &db) == SQLITE_OK);
      raw_exec(db, mode.journal);
      sqlite3_close(db);
    }
    LogCapture log;
    {
      // Held three seconds; the store's own lock wait is half a second.
      LockHolder holder(file, mode.setup, std::chrono::seconds(3));
      SqliteStore store(file, std::chrono::milliseconds(500));
      CHECK(store.usable());
      CHECK_FALSE(store.moved_aside().has_value());
      CHECK(aside_files(temp.path.string()).empty());
      CHECK(count_loaded(store) == 12);
      // Writable once the lock is gone: a new policy lands.
      store.save(policy(100));
      store.flush();
    }
    CHECK(log.count("moved it aside") == 0);
    SqliteStore reopened(file);
    CHECK(count_loaded(reopened) == 13);
  }
}

TEST_CASE("a database locked for longer than start-up waits: read as it is, written once free") {
  TempDir temp("mtasts-locked");
  const auto file = temp.path.string() + "/cache.db";
  {
    SqliteStore store(file);
    for (int i = 0; i < 12; ++i) store.save(policy(i));
    store.flush();
  }
  LogCapture log;
  {
    std::optional<LockHolder> holder;
    holder.emplace(file, "PRAGMA locking_mode = EXCLUSIVE", std::chrono::seconds(12));
    SqliteStore store(file, std::chrono::milliseconds(200));
    CHECK(store.usable());
    CHECK_FALSE(store.moved_aside().has_value());
    CHECK(aside_files(temp.path.string()).empty());
    CHECK(count_loaded(store) == 12);  // what the file holds, read without its lock
    std::optional<CachedPolicy> one;
    store.fetch("domain3.example", [&](mtasts::cache::PolicyRead p_read) {
      std::optional<CachedPolicy> p = std::move(p_read.record);
      one = std::move(p);
    });
    CHECK(one.has_value());
    CHECK(log.count("locked") >= 1);
    store.save(policy(100));
    holder.reset();  // the other process lets go
    // Answered at once from what is waiting to be written (read your writes)...
    std::optional<CachedPolicy> got;
    store.fetch("domain100.example", [&](mtasts::cache::PolicyRead p_read) {
      std::optional<CachedPolicy> p = std::move(p_read.record);
      got = std::move(p);
    });
    CHECK(got.has_value());
    // ...and on disk once there is a way.
    CHECK(wait_for([&] { return store.unwritten() == 0; }, std::chrono::seconds(60)));
  }
  SqliteStore reopened(file);
  CHECK(count_loaded(reopened) == 13);
}

TEST_CASE(
    "a full disk at start-up: the policies load, the file stays, writes land once there is room") {
  OptionalTmpfs disk("512k");
  if (!disk.mounted()) {
    MESSAGE("skipped: " << disk.why_not);
    return;
  }
  const auto file = disk.dir + "/cache.db";
  {
    SqliteStore store(file);
    for (int i = 0; i < 12; ++i) store.save(policy(i));
    store.flush();
  }
  // Fill every remaining block.
  const auto filler = disk.dir + "/filler";
  {
    std::FILE* out = std::fopen(filler.c_str(), "w");
    REQUIRE(out != nullptr);
    std::string block(4096, 'x');
    while (std::fwrite(block.data(), 1, block.size(), out) == block.size() &&
           std::fflush(out) == 0) {
    }
    std::fclose(out);
  }
  LogCapture log;
  {
    SqliteStore store(file);
    CHECK(store.usable());
    CHECK_FALSE(store.moved_aside().has_value());
    CHECK(aside_files(disk.dir).empty());
    CHECK(count_loaded(store) == 12);
    CHECK(log.count("moved it aside") == 0);
    store.save(policy(100));
    std::this_thread::sleep_for(std::chrono::seconds(1));
    std::filesystem::remove(filler);  // room again
    // Answered at once from what is waiting to be written (read your writes)...
    std::optional<CachedPolicy> got;
    store.fetch("domain100.example", [&](mtasts::cache::PolicyRead p_read) {
      std::optional<CachedPolicy> p = std::move(p_read.record);
      got = std::move(p);
    });
    CHECK(got.has_value());
    // ...and on disk once there is a way.
    CHECK(wait_for([&] { return store.unwritten() == 0; }, std::chrono::seconds(60)));
  }
  SqliteStore reopened(file);
  CHECK(count_loaded(reopened) == 13);
}

TEST_CASE(
    "a read-only database file: its policies load, the file stays, writes land once writable") {
  OptionalTmpfs disk("4m");
  if (!disk.mounted()) {
    MESSAGE("skipped: " << disk.why_not);
    return;
  }
  const auto file = disk.dir + "/cache.db";
  {
    SqliteStore store(file);
    for (int i = 0; i < 12; ++i) store.save(policy(i));
    store.flush();
  }
  // The file alone read-only (root ignores modes): a read-only bind mount over it.
  if (::mount(file.c_str(), file.c_str(), nullptr, MS_BIND, nullptr) != 0 ||
      ::mount(nullptr, file.c_str(), nullptr, MS_REMOUNT | MS_BIND | MS_RDONLY, nullptr) != 0) {
    MESSAGE("skipped: cannot bind-mount the file read-only (" << std::strerror(errno) << ")");
    ::umount2(file.c_str(), MNT_DETACH);
    return;
  }
  LogCapture log;
  {
    SqliteStore store(file);
    CHECK(store.usable());
    CHECK(store.read_only());
    CHECK_FALSE(store.moved_aside().has_value());
    CHECK(aside_files(disk.dir).empty());
    CHECK(count_loaded(store) == 12);
    CHECK(log.count("read-only") >= 1);
    store.save(policy(100));
    std::this_thread::sleep_for(std::chrono::seconds(1));
    // Writable again for whoever opens it now (the store's open handles keep
    // the read-only mount alive until they close: detach it lazily).
    REQUIRE(::umount2(file.c_str(), MNT_DETACH) == 0);
    // Answered at once from what is waiting to be written (read your writes)...
    std::optional<CachedPolicy> got;
    store.fetch("domain100.example", [&](mtasts::cache::PolicyRead p_read) {
      std::optional<CachedPolicy> p = std::move(p_read.record);
      got = std::move(p);
    });
    CHECK(got.has_value());
    // ...and on disk once there is a way.
    CHECK(wait_for([&] { return store.unwritten() == 0; }, std::chrono::seconds(60)));
    CHECK_FALSE(store.read_only());
  }
  SqliteStore reopened(file);
  CHECK(count_loaded(reopened) == 13);
}
