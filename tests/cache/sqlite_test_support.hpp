#pragma once
// What the SQLite store tests do beside the store: run SQL on its file as another
// program (or an admin) would, and read back everything the store holds.
#include <doctest/doctest.h>
#include <sqlite3.h>

#include <filesystem>
#include <map>
#include <string>
#include <utility>

#include "cache/cached_policy.hpp"
#include "cache/sqlite_store.hpp"

namespace mtasts_test {

// Runs `sql` on the database `file` through a connection of its own; waits up to
// 5 s for a lock the store's writer holds.
inline void raw_sql(const std::filesystem::path& file, const std::string& sql) {
  sqlite3* db = nullptr;
  REQUIRE(sqlite3_open(file.c_str(), &db) == SQLITE_OK);
  sqlite3_busy_timeout(db, 5000);
  char* error = nullptr;
  const int rc = sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &error);
  INFO(sql << ": " << (error != nullptr ? error : ""));
  sqlite3_free(error);
  sqlite3_close(db);
  REQUIRE(rc == SQLITE_OK);
}

// Every policy the store's start-up load reads, by domain.
inline std::map<std::string, mtasts::cache::CachedPolicy> loaded_policies(
    mtasts::cache::SqliteStore& store) {
  std::map<std::string, mtasts::cache::CachedPolicy> out;
  store.load_all([&](mtasts::cache::CachedPolicy p) { out.emplace(p.domain, std::move(p)); });
  return out;
}

}  // namespace mtasts_test
