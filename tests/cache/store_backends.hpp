#pragma once
// The backends every PolicyStore must behave alike on (test_store_contract.cpp).
// Each owns its data for one test (a database file, a redis-server child) and
// opens stores over it: a second store over the same data is a restart, or
// another daemon of the fleet. Besides opening stores, each can
//   - forge a record behind the stores' backs, unchecked, where someone with
//     write access to it would (the file; for a tiered store the shared tier);
//   - break reads: the data can no longer be read (the server is gone, the
//     schema damaged), so a store must say "cannot tell".
// `lists`: whether the store lists its policies (due_for_refresh,
// list_policies); Redis cannot without blocking the loop and hands back nothing.
// `lists_forged`: whether a record forge() wrote is listed (the shared tier of
// a tiered store lists what other daemons learned where it can: PostgreSQL).
// `counts`: whether it takes a census (PolicyStore::census): SQLite, and so
// every tiered store through its local tier; Redis and PostgreSQL alone do not.
// `lists_dane`: whether it lists its DANE results (list_dane): all but Redis;
// `lists_dane_forged`: whether a DANE result forge() wrote is listed.
// A new backend joins STORE_BACKENDS in test_store_contract.cpp.
#include <sqlite3.h>

#include <boost/asio/io_context.hpp>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "cache/postgres_store.hpp"
#include "cache/redis_store.hpp"
#include "cache/sqlite_store.hpp"
#include "cache/tiered_store.hpp"
#include "dane/level.hpp"
#include "postgres_test_support.hpp"
#include "redis_sentinel_test_support.hpp"
#include "redis_test_support.hpp"
#include "sqlite_test_support.hpp"
#include "support/temp_dir.hpp"

namespace mtasts_test {

using mtasts::cache::CachedDane;
using mtasts::cache::PolicyStore;

inline std::string sql_text(const std::string& text) {
  std::string out = "'";
  for (char c : text) {
    if (c == '\'') out += '\'';
    out += c;
  }
  return out + "'";
}

// Redis values written by hand in the documented form (redis_value.hpp), so
// that a record the encoder would never produce can be stored.
inline std::string raw_redis_value(const CachedPolicy& p) {
  return "v1\n" + p.txt_id + "\n" + std::to_string(p.fetched_at) + "\n" +
         std::to_string(p.expires_at) + "\n" + std::to_string(p.checked_at) + "\n" + p.body;
}
inline std::string raw_redis_value(const CachedDane& d) {
  return "v1\n" + std::string(mtasts::dane::to_string(d.level)) + "\n" +
         std::to_string(d.fetched_at) + "\n" + std::to_string(d.expires_at) + "\n" +
         std::to_string(d.keep_until) + "\n" + d.summary;
}

// A record SET on the server by hand, under the key prefix the tests' stores use.
inline void redis_forge(const RedisServer& server, const CachedPolicy& p) {
  RawClient raw(server.raw());
  const auto value = raw_redis_value(p);
  raw.cmd("SET test:policy:%s %b", p.domain.c_str(), value.data(), value.size());
}
inline void redis_forge(const RedisServer& server, const CachedDane& d) {
  RawClient raw(server.raw());
  const auto value = raw_redis_value(d);
  raw.cmd("SET test:dane:%s %b", d.destination.c_str(), value.data(), value.size());
}

struct SqliteBackend {
  static constexpr const char* name = "sqlite";
  static constexpr bool lists_forged = true;
  static constexpr bool lists = true;
  static constexpr bool counts = true;
  static constexpr bool lists_dane = true;
  static constexpr bool lists_dane_forged = true;
  static std::vector<std::string> error_backends() { return {"sqlite"}; }

  TempDir dir{"mtasts-contract-sqlite"};
  boost::asio::io_context io;

  std::filesystem::path file() const { return dir.path / "cache.db"; }
  std::unique_ptr<PolicyStore> open() {
    return std::make_unique<mtasts::cache::SqliteStore>(file().string());
  }
  void forge(const CachedPolicy& p) {
    raw_sql(file(),
            "INSERT OR REPLACE INTO policies (domain, txt_id, body, fetched_at, "
            "expires_at, checked_at) VALUES (" +
                sql_text(p.domain) + ", " + sql_text(p.txt_id) + ", " + sql_text(p.body) + ", " +
                std::to_string(p.fetched_at) + ", " + std::to_string(p.expires_at) + ", " +
                std::to_string(p.checked_at) + ")");
  }
  void forge(const CachedDane& d) {
    raw_sql(file(),
            "INSERT OR REPLACE INTO dane (destination, level, summary, fetched_at, "
            "expires_at, keep_until) VALUES (" +
                sql_text(d.destination) + ", " +
                sql_text(std::string(mtasts::dane::to_string(d.level))) + ", " +
                sql_text(d.summary) + ", " + std::to_string(d.fetched_at) + ", " +
                std::to_string(d.expires_at) + ", " + std::to_string(d.keep_until) + ")");
  }
  // Another hand damages the schema under the running store.
  void break_reads() { raw_sql(file(), "DROP TABLE policies; DROP TABLE dane"); }
};

struct RedisBackend {
  static constexpr const char* name = "redis";
  static constexpr bool lists_forged = false;
  static constexpr bool lists = false;
  static constexpr bool counts = false;
  static constexpr bool lists_dane = false;
  static constexpr bool lists_dane_forged = false;
  static std::vector<std::string> error_backends() { return {"redis"}; }

  RedisServer server;
  boost::asio::io_context io;

  std::unique_ptr<PolicyStore> open() {
    auto store = std::make_unique<mtasts::cache::RedisStore>(io, options(server.url()));
    REQUIRE(run_until(io, [&] { return store->connected(); }));
    return store;
  }
  template <class Record>
  void forge(const Record& r) {
    redis_forge(server, r);
  }
  void break_reads() { server.kill(); }
};

// cache.type redis_sentinel: the same store, its master found through a sentinel.
struct SentinelBackend {
  static constexpr const char* name = "redis_sentinel";
  static constexpr bool lists_forged = false;
  static constexpr bool lists = false;
  static constexpr bool counts = false;
  static constexpr bool lists_dane = false;
  static constexpr bool lists_dane_forged = false;
  static std::vector<std::string> error_backends() { return {"redis"}; }

  SentinelGroup group{0, 1, 1};
  boost::asio::io_context io;

  std::unique_ptr<PolicyStore> open() {
    auto store =
        std::make_unique<mtasts::cache::RedisStore>(io, sentinel_store_options(group.options()));
    REQUIRE(run_until(io, [&] { return store->connected(); }));
    return store;
  }
  template <class Record>
  void forge(const Record& r) {
    redis_forge(group.master, r);
  }
  // The sentinel still names the master, which no longer answers.
  void break_reads() { group.master.kill(); }
};

struct PostgresBackend {
  static constexpr const char* name = "postgres";
  static constexpr bool lists_forged = true;
  static constexpr bool lists = true;
  static constexpr bool counts = false;
  static constexpr bool lists_dane = true;
  static constexpr bool lists_dane_forged = true;
  static std::vector<std::string> error_backends() { return {"postgres"}; }

  PostgresServer server;
  boost::asio::io_context io;

  std::unique_ptr<PolicyStore> open() {
    auto store = std::make_unique<mtasts::cache::PostgresStore>(io, postgres_options(server.dsn()));
    REQUIRE(run_until(io, [&] { return store->connected(); }));
    return store;
  }
  // Rows written by hand (postgres_sql.cpp's tables), as another program with
  // write access to the database would.
  void forge(const CachedPolicy& p) {
    server.exec(
        "INSERT INTO mta_stsd_policies (domain, txt_id, body, fetched_at, expires_at, "
        "checked_at) VALUES (" +
        sql_text(p.domain) + ", " + sql_text(p.txt_id) + ", " + sql_text(p.body) + ", " +
        std::to_string(p.fetched_at) + ", " + std::to_string(p.expires_at) + ", " +
        std::to_string(p.checked_at) +
        ") ON CONFLICT (domain) DO UPDATE SET txt_id = EXCLUDED.txt_id, body = EXCLUDED.body, "
        "fetched_at = EXCLUDED.fetched_at, expires_at = EXCLUDED.expires_at, "
        "checked_at = EXCLUDED.checked_at");
  }
  void forge(const CachedDane& d) {
    server.exec(
        "INSERT INTO mta_stsd_dane (destination, level, summary, fetched_at, expires_at, "
        "keep_until) VALUES (" +
        sql_text(d.destination) + ", " + sql_text(std::string(mtasts::dane::to_string(d.level))) +
        ", " + sql_text(d.summary) + ", " + std::to_string(d.fetched_at) + ", " +
        std::to_string(d.expires_at) + ", " + std::to_string(d.keep_until) +
        ") ON CONFLICT (destination) DO UPDATE SET level = EXCLUDED.level, "
        "summary = EXCLUDED.summary, fetched_at = EXCLUDED.fetched_at, "
        "expires_at = EXCLUDED.expires_at, keep_until = EXCLUDED.keep_until");
  }
  void break_reads() { server.stop(); }
};

// The shared store of a fleet (Redis, Redis through Sentinel, PostgreSQL) with
// this daemon's own SQLite copy: what setup::make_store builds for those cache
// types (tiered_store.hpp).
template <class Shared>
struct TieredOver {
  static inline const std::string name = std::string(Shared::name) + "+sqlite";
  static constexpr bool lists = true;  // the local tier's
  static constexpr bool lists_forged = Shared::lists;
  static constexpr bool counts = true;  // the local tier's
  static constexpr bool lists_dane = true;
  static constexpr bool lists_dane_forged = Shared::lists_dane;
  static std::vector<std::string> error_backends() {
    auto backends = Shared::error_backends();
    backends.push_back("sqlite");
    return backends;
  }

  Shared shared;
  TempDir dir{"mtasts-contract-tiered"};
  boost::asio::io_context& io = shared.io;

  std::unique_ptr<PolicyStore> open() {
    return std::make_unique<mtasts::cache::TieredStore>(
        shared.open(),
        std::make_unique<mtasts::cache::SqliteStore>((dir.path / "local.db").string()));
  }
  // What another daemon of the fleet, or anyone who can write the shared store, says.
  template <class Record>
  void forge(const Record& r) {
    shared.forge(r);
  }
  // Both tiers: with the shared store gone the local tier still answers, and its
  // "absent" is an answer (tiered_store.hpp: it holds every record this daemon relied on).
  void break_reads() {
    shared.break_reads();
    raw_sql(dir.path / "local.db", "DROP TABLE policies; DROP TABLE dane");
  }
};

using TieredBackend = TieredOver<RedisBackend>;
using TieredSentinelBackend = TieredOver<SentinelBackend>;
using TieredPostgresBackend = TieredOver<PostgresBackend>;

}  // namespace mtasts_test
