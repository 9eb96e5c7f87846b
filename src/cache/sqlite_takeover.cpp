#include "cache/sqlite_takeover.hpp"

#include <spdlog/spdlog.h>

#include <cmath>
#include <optional>
#include <set>
#include <utility>
#include <vector>

#include "cache/sqlite_statement.hpp"
#include "cache/takeover_entry.hpp"
#include "util/log_text.hpp"

namespace mtasts::cache {

namespace {

using sqlite::bind_text;
using sqlite::exec;
using sqlite::read_text;
using sqlite::Statement;

constexpr std::size_t kMaxLoggedEntries = 10;

// One entry per (domain, ts, pol_id) as stored (types kept: compared with IS).
constexpr const char* kCreateTakenOver =
    "CREATE TABLE IF NOT EXISTS taken_over (domain TEXT PRIMARY KEY, ts, pol_id)";

// The entries not seen at an earlier open, or changed since (the Python daemon
// ran again after a switch back).
constexpr const char* kSelectNew =
    "SELECT s.domain, s.ts, s.pol_id, s.pol_body FROM sts_policy_cache AS s "
    "LEFT JOIN taken_over AS t ON t.domain = s.domain "
    "WHERE t.domain IS NULL OR t.ts IS NOT s.ts OR t.pol_id IS NOT s.pol_id";

struct Row {
  std::string domain;
  std::optional<std::int64_t> ts;  // unset: not a number
  std::string pol_id;
  std::string pol_body;
  // As stored, for taken_over.
  sqlite3_value* raw_ts = nullptr;
  sqlite3_value* raw_pol_id = nullptr;
  ~Row() {
    sqlite3_value_free(raw_ts);
    sqlite3_value_free(raw_pol_id);
  }
  Row() = default;
  Row(Row&& other) noexcept
      : domain(std::move(other.domain)),
        ts(other.ts),
        pol_id(std::move(other.pol_id)),
        pol_body(std::move(other.pol_body)),
        raw_ts(std::exchange(other.raw_ts, nullptr)),
        raw_pol_id(std::exchange(other.raw_pol_id, nullptr)) {}
  Row(const Row&) = delete;
  Row& operator=(const Row&) = delete;
  Row& operator=(Row&&) = delete;
};

// sqlite_cache.py writes int(time.time()); a REAL (hand-edited) is floored, TEXT
// that is not a number (the column's INTEGER affinity would have converted one)
// and NULL are not a time.
std::optional<std::int64_t> read_ts(sqlite3_stmt* stmt, int column) {
  switch (sqlite3_column_type(stmt, column)) {
    case SQLITE_INTEGER:
      return sqlite3_column_int64(stmt, column);
    case SQLITE_FLOAT: {
      const double v = sqlite3_column_double(stmt, column);
      if (std::isfinite(v) && std::fabs(v) < 9.0e15)
        return static_cast<std::int64_t>(std::floor(v));
      return std::nullopt;
    }
    default:
      return std::nullopt;
  }
}

// SELECTed first, written after: the statement reading sts_policy_cache is done
// before the writes, and the table is only ever read.
bool read_new_rows(sqlite3* db, std::vector<Row>& rows, std::string& error) {
  Statement select(db, kSelectNew);
  if (select.stmt == nullptr) {
    error = sqlite3_errmsg(db);
    return false;
  }
  int rc;
  while ((rc = sqlite3_step(select.stmt)) == SQLITE_ROW) {
    Row& row = rows.emplace_back();
    read_text(select.stmt, 0, row.domain);
    row.ts = read_ts(select.stmt, 1);
    read_text(select.stmt, 2, row.pol_id);
    read_text(select.stmt, 3, row.pol_body);
    row.raw_ts = sqlite3_value_dup(sqlite3_column_value(select.stmt, 1));
    row.raw_pol_id = sqlite3_value_dup(sqlite3_column_value(select.stmt, 2));
  }
  if (rc != SQLITE_DONE) {
    error = sqlite3_errmsg(db);
    return false;
  }
  return true;
}

// Whether this daemon already has the domain's policy checked at or after ts.
bool ours_is_newer(sqlite3_stmt* select_ours, const std::string& domain, std::int64_t ts) {
  bind_text(select_ours, 1, domain);
  bool newer = false;
  if (sqlite3_step(select_ours) == SQLITE_ROW) newer = sqlite3_column_int64(select_ours, 0) >= ts;
  sqlite3_reset(select_ours);
  return newer;
}

}  // namespace

bool is_resolver_table_name(std::string_view name) {
  return name == "sts_policy_cache" || name == "proactive_fetch_ts";
}

ResolverTable find_resolver_table(sqlite3* db) {
  Statement info(db, "SELECT name FROM pragma_table_info('sts_policy_cache')");
  if (info.stmt == nullptr) return ResolverTable::absent;
  std::set<std::string> columns;
  while (sqlite3_step(info.stmt) == SQLITE_ROW) columns.insert(sqlite::text_column(info.stmt, 0));
  if (columns.empty()) return ResolverTable::absent;
  for (const char* needed : {"domain", "ts", "pol_id", "pol_body"}) {
    if (columns.count(needed) == 0) return ResolverTable::other_layout;
  }
  return ResolverTable::present;
}

TakeoverCounts take_over_resolver_table(sqlite3* db, const std::string& path, std::int64_t now) {
  TakeoverCounts counts;
  std::string error;
  std::vector<Row> rows;
  bool ok = exec(db, "BEGIN IMMEDIATE", error);
  if (ok) {
    ok = exec(db, kCreateTakenOver, error) && read_new_rows(db, rows, error);
  }
  if (ok) {
    Statement ours(db, "SELECT checked_at FROM policies WHERE domain = ?1");
    Statement upsert(db,
                     "INSERT OR REPLACE INTO policies (domain, txt_id, body, fetched_at, "
                     "expires_at, checked_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)");
    Statement seen(db,
                   "INSERT OR REPLACE INTO taken_over (domain, ts, pol_id) VALUES (?1, ?2, ?3)");
    ok = ours.stmt != nullptr && upsert.stmt != nullptr && seen.stmt != nullptr;
    if (!ok) error = sqlite3_errmsg(db);
    auto run = [&](sqlite3_stmt* stmt) {
      if (sqlite3_step(stmt) != SQLITE_DONE) {
        ok = false;
        error = sqlite3_errmsg(db);
      }
      sqlite3_reset(stmt);
    };
    std::size_t logged = 0;
    for (auto it = rows.begin(); ok && it != rows.end(); ++it) {
      const Row& row = *it;
      ++counts.entries;
      TakeoverResult result;
      if (!row.ts) {
        result.error = "ts is not a number";
      } else {
        result = take_over_entry({row.domain, *row.ts, row.pol_id, row.pol_body}, now);
      }
      if (result.policy) {
        const CachedPolicy& p = *result.policy;
        if (ours_is_newer(ours.stmt, p.domain, p.checked_at)) {
          ++counts.ours_newer;
        } else {
          bind_text(upsert.stmt, 1, p.domain);
          bind_text(upsert.stmt, 2, p.txt_id);
          bind_text(upsert.stmt, 3, p.body);
          sqlite3_bind_int64(upsert.stmt, 4, p.fetched_at);
          sqlite3_bind_int64(upsert.stmt, 5, p.expires_at);
          sqlite3_bind_int64(upsert.stmt, 6, p.checked_at);
          run(upsert.stmt);
          ++counts.taken;
        }
      } else if (result.expired) {
        ++counts.expired;
      } else {
        ++counts.unusable;
        if (logged++ < kMaxLoggedEntries) {
          spdlog::warn(
              "cache database {}: postfix-mta-sts-resolver's entry for '{}' not taken over: {}",
              path, util::log_text(row.domain), result.error);
        }
      }
      bind_text(seen.stmt, 1, row.domain);
      sqlite3_bind_value(seen.stmt, 2, row.raw_ts);
      sqlite3_bind_value(seen.stmt, 3, row.raw_pol_id);
      run(seen.stmt);
    }
    if (ok) ok = exec(db, "COMMIT", error);
  }
  if (!ok) {
    std::string ignored;
    exec(db, "ROLLBACK", ignored);
    spdlog::error(
        "cache database {}: cannot take over postfix-mta-sts-resolver's policies ({}); its "
        "table is left as it was and read again at the next start",
        path, error);
    TakeoverCounts none;
    none.failed = true;
    return none;
  }
  if (counts.entries == 0) {
    spdlog::debug("cache database {}: nothing new in postfix-mta-sts-resolver's table", path);
    return counts;
  }
  spdlog::info(
      "cache database {}: took over {} policies from postfix-mta-sts-resolver's table "
      "sts_policy_cache (left as it was); skipped {}: {} expired (not revived), {} unusable "
      "(named above), {} older than this daemon's own",
      path, counts.taken, counts.entries - counts.taken, counts.expired, counts.unusable,
      counts.ours_newer);
  return counts;
}

TakeoverCounts read_resolver_table(
    sqlite3* db, const std::string* domain, std::int64_t now,
    const std::function<void(CachedPolicy)>& sink,
    const std::function<void(const std::string&, const std::string&)>& unusable) {
  TakeoverCounts counts;
  Statement select(db, domain != nullptr
                           ? "SELECT domain, ts, pol_id, pol_body FROM sts_policy_cache "
                             "WHERE domain = ?1"
                           : "SELECT domain, ts, pol_id, pol_body FROM sts_policy_cache");
  if (select.stmt == nullptr) {
    counts.failed = true;
    return counts;
  }
  if (domain != nullptr) bind_text(select.stmt, 1, *domain);
  int rc;
  while ((rc = sqlite3_step(select.stmt)) == SQLITE_ROW) {
    ++counts.entries;
    std::string name, pol_id, pol_body;
    read_text(select.stmt, 0, name);
    const auto ts = read_ts(select.stmt, 1);
    read_text(select.stmt, 2, pol_id);
    read_text(select.stmt, 3, pol_body);
    TakeoverResult result;
    if (!ts) {
      result.error = "ts is not a number";
    } else {
      result = take_over_entry({name, *ts, pol_id, pol_body}, now);
    }
    if (result.policy) {
      ++counts.taken;
      sink(std::move(*result.policy));
    } else if (result.expired) {
      ++counts.expired;
    } else {
      ++counts.unusable;
      unusable(name, result.error);
    }
  }
  counts.failed = rc != SQLITE_DONE;
  return counts;
}

}  // namespace mtasts::cache
