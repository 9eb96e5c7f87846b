#include "cache/postgres_sql.hpp"

#include <charconv>

#include "cache/record_check.hpp"
#include "dane/level.hpp"

namespace mtasts::cache::pgsql {

// Only when something is missing: CREATE ... IF NOT EXISTS still needs CREATE
// on the schema, which a role an administrator gave the tables to (and no
// more) lacks. plpgsql is in every database; a DO block needs no privilege
// beyond the statements it runs. Several statements in one simple query run as
// one implicit transaction: the lock is held to its end, and an error rolls it
// all back. The lock's key is any constant no other program of the database
// uses ("mtasts" in ASCII). client_min_messages: no NOTICE per existing table.
const char* const kCreateSchema =
    "SET LOCAL client_min_messages = warning;"
    "DO $mta_stsd$ BEGIN"
    " IF to_regclass('mta_stsd_policies') IS NULL"
    "  OR to_regclass('mta_stsd_policies_expires_at') IS NULL"
    "  OR to_regclass('mta_stsd_dane') IS NULL"
    "  OR to_regclass('mta_stsd_taken_over') IS NULL THEN"
    "  PERFORM pg_advisory_xact_lock(120221283546227);"
    "  CREATE TABLE IF NOT EXISTS mta_stsd_policies ("
    "   domain text PRIMARY KEY, txt_id text NOT NULL, body text NOT NULL,"
    "   fetched_at bigint NOT NULL, expires_at bigint NOT NULL, checked_at bigint NOT NULL);"
    "  CREATE INDEX IF NOT EXISTS mta_stsd_policies_expires_at"
    "   ON mta_stsd_policies (expires_at);"
    "  CREATE TABLE IF NOT EXISTS mta_stsd_dane ("
    "   destination text PRIMARY KEY, level text NOT NULL, summary text NOT NULL,"
    "   fetched_at bigint NOT NULL, expires_at bigint NOT NULL, keep_until bigint NOT NULL);"
    "  CREATE TABLE IF NOT EXISTS mta_stsd_taken_over (domain text PRIMARY KEY, ts bigint,"
    "   pol_id text);"
    " END IF;"
    "END $mta_stsd$";

const char* const kUpsertPolicy =
    "INSERT INTO mta_stsd_policies AS p (domain, txt_id, body, fetched_at, expires_at, "
    "checked_at) VALUES ($1, $2, $3, $4, $5, $6) "
    "ON CONFLICT (domain) DO UPDATE SET txt_id = EXCLUDED.txt_id, body = EXCLUDED.body, "
    "fetched_at = EXCLUDED.fetched_at, expires_at = EXCLUDED.expires_at, "
    "checked_at = EXCLUDED.checked_at "
    "WHERE p.fetched_at < EXCLUDED.fetched_at OR "
    "(p.fetched_at = EXCLUDED.fetched_at AND p.checked_at < EXCLUDED.checked_at)";

const char* const kUpsertDane =
    "INSERT INTO mta_stsd_dane AS d (destination, level, summary, fetched_at, expires_at, "
    "keep_until) VALUES ($1, $2, $3, $4, $5, $6) "
    "ON CONFLICT (destination) DO UPDATE SET level = EXCLUDED.level, "
    "summary = EXCLUDED.summary, fetched_at = EXCLUDED.fetched_at, "
    "expires_at = EXCLUDED.expires_at, keep_until = EXCLUDED.keep_until "
    "WHERE d.fetched_at <= EXCLUDED.fetched_at";

// One statement (libpq sends one per extended-protocol query): the DANE row
// goes in a data-modifying CTE.
const char* const kRemove =
    "WITH dane AS (DELETE FROM mta_stsd_dane WHERE destination = $1) "
    "DELETE FROM mta_stsd_policies WHERE domain = $1";

const char* const kConfirm =
    "UPDATE mta_stsd_policies SET checked_at = GREATEST(checked_at, $3::bigint) "
    "WHERE domain = $1 AND txt_id = $2";

const char* const kSelectPolicies =
    "SELECT domain, txt_id, body, fetched_at, expires_at, checked_at FROM mta_stsd_policies";
const char* const kSelectPolicy =
    "SELECT domain, txt_id, body, fetched_at, expires_at, checked_at FROM mta_stsd_policies "
    "WHERE domain = $1";
const char* const kListPolicies =
    "SELECT domain, txt_id, body, fetched_at, expires_at, checked_at FROM mta_stsd_policies "
    "WHERE expires_at > $1::bigint ORDER BY domain LIMIT $2::bigint";
const char* const kSelectDanes =
    "SELECT destination, level, summary, fetched_at, expires_at, keep_until FROM mta_stsd_dane "
    "WHERE keep_until > $1::bigint";
const char* const kListDane =
    "SELECT destination, level, summary, fetched_at, expires_at, keep_until FROM mta_stsd_dane "
    "WHERE keep_until > $1::bigint ORDER BY destination LIMIT $2::bigint";
const char* const kSelectDane =
    "SELECT destination, level, summary, fetched_at, expires_at, keep_until FROM mta_stsd_dane "
    "WHERE destination = $1";
const char* const kPurgeStaleDane = "DELETE FROM mta_stsd_dane WHERE keep_until <= $1::bigint";
// Mirrors SqliteStore::due_for_refresh; max_age is expires_at - fetched_at
// (every row passed that bound on the way in).
const char* const kDueForRefresh =
    "SELECT domain, txt_id, (expires_at <= $3::bigint OR "
    "$1::bigint >= fetched_at + (expires_at - fetched_at) / 2) FROM mta_stsd_policies "
    "WHERE expires_at > $1::bigint AND (checked_at <= $2::bigint OR expires_at <= $3::bigint) "
    "ORDER BY expires_at LIMIT $4::bigint";

std::optional<std::int64_t> int_column(const PGresult* result, int row, int column) {
  if (PQgetisnull(result, row, column) != 0) return std::nullopt;
  const char* text = PQgetvalue(result, row, column);
  const char* end = text + PQgetlength(result, row, column);
  std::int64_t value = 0;
  const auto [ptr, ec] = std::from_chars(text, end, value);
  if (ec != std::errc() || ptr != end) return std::nullopt;
  return value;
}

std::string text_column(const PGresult* result, int row, int column) {
  return std::string(PQgetvalue(result, row, column),
                     static_cast<std::size_t>(PQgetlength(result, row, column)));
}

std::optional<std::string> read_policy_row(const PGresult* result, int row, CachedPolicy& policy,
                                           std::int64_t now) {
  policy.domain = text_column(result, row, 0);
  policy.txt_id = text_column(result, row, 1);
  policy.body = text_column(result, row, 2);
  const auto fetched_at = int_column(result, row, 3);
  const auto expires_at = int_column(result, row, 4);
  const auto checked_at = int_column(result, row, 5);
  if (!fetched_at || !expires_at || !checked_at) return "a time column is not a number";
  policy.fetched_at = *fetched_at;
  policy.expires_at = *expires_at;
  policy.checked_at = *checked_at;
  return adopt_policy_record(policy, now);
}

std::optional<std::string> read_dane_row(const PGresult* result, int row, CachedDane& dane,
                                         std::int64_t now) {
  dane.destination = text_column(result, row, 0);
  const auto level = dane::parse_level(text_column(result, row, 1));
  dane.summary = text_column(result, row, 2);
  const auto fetched_at = int_column(result, row, 3);
  const auto expires_at = int_column(result, row, 4);
  const auto keep_until = int_column(result, row, 5);
  if (!level) return "unknown DANE level";
  if (!fetched_at || !expires_at || !keep_until) return "a time column is not a number";
  dane.level = *level;
  dane.fetched_at = *fetched_at;
  dane.expires_at = *expires_at;
  dane.keep_until = *keep_until;
  return check_dane_record(dane, now);
}

}  // namespace mtasts::cache::pgsql
