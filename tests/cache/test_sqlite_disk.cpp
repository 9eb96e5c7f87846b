// SqliteStore on a disk that fills up or turns read-only: a real tmpfs mounted
// by the test (the test suite runs as root). The daemon must keep every policy
// it has and say what is wrong, once.
#include <doctest/doctest.h>
#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>
#include <sqlite3.h>
#include <sys/mount.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <sstream>
#include <string>
#include <thread>

#include "cache/sqlite_store.hpp"

using mtasts::cache::CachedPolicy;
using mtasts::cache::SqliteStore;

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

// Captures what the store logs.
struct LogCapture {
  std::ostringstream text;
  std::shared_ptr<spdlog::logger> previous = spdlog::default_logger();
  LogCapture() {
    auto sink = std::make_shared<spdlog::sinks::ostream_sink_mt>(text);
    spdlog::set_default_logger(std::make_shared<spdlog::logger>("capture", sink));
  }
  ~LogCapture() { spdlog::set_default_logger(previous); }
  std::string str() {
    spdlog::default_logger()->flush();
    return text.str();
  }
  std::size_t count(const std::string& needle) {
    const auto all = str();
    std::size_t n = 0;
    for (auto at = all.find(needle); at != std::string::npos; at = all.find(needle, at + 1)) ++n;
    return n;
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
    CHECK(log.count("cannot write") == 1);                  // once, not per retry
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
  store.fetch("domain7.example", [&](std::optional<CachedPolicy> p) { one = std::move(p); });
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
        p.domain + "', 'id', '" + p.body + "', 1700000000, 1800000000, 1700000000);";
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
    store.fetch_dane("dane.example", [&](auto d) { one = std::move(d); });
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
      CHECK_FALSE(d.has_value());
    });
    CHECK(called);
    old.save_dane(dane);  // no table, no disk: memory only, quietly
    old.flush();
  }
  CHECK(log.count("cannot read DANE results") == 0);
  REQUIRE(disk.remount(0, "4m"));  // so the fixture can clean up
}
