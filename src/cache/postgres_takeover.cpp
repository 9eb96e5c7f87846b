#include "cache/postgres_takeover.hpp"

#include <spdlog/spdlog.h>

#include "cache/postgres_sql.hpp"
#include "cache/takeover_entry.hpp"
#include "util/log_text.hpp"

namespace mtasts::cache {

namespace {

constexpr std::size_t kMaxLoggedEntries = 10;

// Its four columns, in the schema our own tables live in (the search path's
// first): anything else named sts_policy_cache is not that daemon's.
constexpr const char* kFindTable =
    "SELECT count(*) FROM information_schema.columns WHERE table_schema = current_schema() "
    "AND table_name = 'sts_policy_cache' AND column_name IN ('domain', 'ts', 'pol_id', "
    "'pol_body')";

constexpr const char* kLock = "SELECT pg_advisory_xact_lock(120221283546227)";

// The entries not seen before, or changed since (the Python daemon ran again).
constexpr const char* kSelectNew =
    "SELECT s.domain, s.ts::text, s.pol_id, s.pol_body::text FROM sts_policy_cache AS s "
    "LEFT JOIN mta_stsd_taken_over AS t ON t.domain = s.domain "
    "WHERE s.domain IS NOT NULL AND (t.domain IS NULL OR t.ts IS DISTINCT FROM s.ts "
    "OR t.pol_id IS DISTINCT FROM s.pol_id)";

// Written unless the fleet's row was checked at or after the entry's ts.
constexpr const char* kTakePolicy =
    "INSERT INTO mta_stsd_policies AS p (domain, txt_id, body, fetched_at, expires_at, "
    "checked_at) VALUES ($1, $2, $3, $4, $5, $6) "
    "ON CONFLICT (domain) DO UPDATE SET txt_id = EXCLUDED.txt_id, body = EXCLUDED.body, "
    "fetched_at = EXCLUDED.fetched_at, expires_at = EXCLUDED.expires_at, "
    "checked_at = EXCLUDED.checked_at WHERE p.checked_at < EXCLUDED.checked_at";

constexpr const char* kSeen =
    "INSERT INTO mta_stsd_taken_over (domain, ts, pol_id) VALUES ($1, $2, $3) "
    "ON CONFLICT (domain) DO UPDATE SET ts = EXCLUDED.ts, pol_id = EXCLUDED.pol_id";

std::optional<std::string> nullable(const PGresult* result, int row, int column) {
  if (PQgetisnull(result, row, column) != 0) return std::nullopt;
  return pgsql::text_column(result, row, column);
}

}  // namespace

PostgresTakeoverCounts take_over_postgres_resolver_table(
    PostgresSyncClient& client, const std::string& where, std::int64_t now,
    PostgresSyncClient::Clock::time_point deadline) {
  PostgresTakeoverCounts counts;
  auto fail = [&](const char* step) {
    spdlog::error(
        "postgres {}: cannot take over postfix-mta-sts-resolver's policies ({}: {}); its table "
        "is left as it was and read again at the next start",
        where, step, client.error());
    if (client.ok()) client.exec("ROLLBACK", {}, deadline);
    PostgresTakeoverCounts none;
    none.failed = true;
    return none;
  };
  auto found = client.exec(kFindTable, {}, deadline);
  if (!found) return fail("looking for its table");
  const auto columns = pgsql::int_column(found.get(), 0, 0).value_or(0);
  if (columns == 0) return counts;
  if (columns != 4) {
    spdlog::warn(
        "postgres {}: a table sts_policy_cache without postfix-mta-sts-resolver's columns "
        "domain, ts, pol_id, pol_body: not taken over",
        where);
    return counts;
  }
  if (!client.exec("BEGIN", {}, deadline)) return fail("BEGIN");
  if (!client.exec(kLock, {}, deadline)) return fail("locking");
  auto rows = client.exec(kSelectNew, {}, deadline);
  if (!rows) return fail("reading its table");
  std::size_t logged = 0;
  for (int i = 0; i < PQntuples(rows.get()); ++i) {
    ++counts.entries;
    const std::string domain = pgsql::text_column(rows.get(), i, 0);
    const auto ts = pgsql::int_column(rows.get(), i, 1);
    const auto pol_id = nullable(rows.get(), i, 2);
    const auto pol_body = nullable(rows.get(), i, 3);
    TakeoverResult result;
    if (!ts) {
      result.error = "ts is not a number";
    } else if (!pol_id || !pol_body) {
      result.error = "pol_id or pol_body is NULL";
    } else {
      result = take_over_entry({domain, *ts, *pol_id, *pol_body}, now);
    }
    if (result.policy) {
      const CachedPolicy& p = *result.policy;
      auto written = client.exec(kTakePolicy,
                                 {p.domain, p.txt_id, p.body, std::to_string(p.fetched_at),
                                  std::to_string(p.expires_at), std::to_string(p.checked_at)},
                                 deadline);
      if (!written) return fail("writing a policy");
      if (std::string(PQcmdTuples(written.get())) == "0") {
        ++counts.ours_newer;
      } else {
        ++counts.taken;
      }
    } else if (result.expired) {
      ++counts.expired;
    } else {
      ++counts.unusable;
      if (logged++ < kMaxLoggedEntries) {
        spdlog::warn("postgres {}: postfix-mta-sts-resolver's entry for '{}' not taken over: {}",
                     where, util::log_text(domain), result.error);
      }
    }
    if (!client.exec(kSeen, {domain, nullable(rows.get(), i, 1), pol_id}, deadline)) {
      return fail("remembering an entry");
    }
  }
  if (!client.exec("COMMIT", {}, deadline)) return fail("COMMIT");
  if (counts.entries == 0) {
    spdlog::debug("postgres {}: nothing new in postfix-mta-sts-resolver's table", where);
    return counts;
  }
  spdlog::info(
      "postgres {}: took over {} policies from postfix-mta-sts-resolver's table "
      "sts_policy_cache (left as it was); skipped {}: {} expired (not revived), {} unusable "
      "(named above), {} older than the fleet's own",
      where, counts.taken, counts.entries - counts.taken, counts.expired, counts.unusable,
      counts.ours_newer);
  return counts;
}

}  // namespace mtasts::cache
