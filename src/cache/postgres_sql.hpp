#pragma once
// mta-stsd's tables in a PostgreSQL database a fleet of daemons shares, and the
// statements on them. The columns and meaning are SqliteStore's `policies`,
// `dane` and `taken_over` tables; the names carry a prefix because the database
// is usually postfix-mta-sts-resolver's, whose tables (sts_policy_cache,
// proactive_fetch_ts) sit beside them and are only ever read.
//
// Times are unix seconds (bigint). Writes never let an older record replace a
// newer one: several daemons write the same rows, and a write queued during an
// outage arrives late, possibly after another daemon's fresher fetch.
#include <libpq-fe.h>

#include <cstdint>
#include <optional>
#include <string>

#include "cache/cached_dane.hpp"
#include "cache/cached_policy.hpp"

namespace mtasts::cache::pgsql {

// Every daemon of a fleet runs it on each connect. It creates what is missing
// in one transaction under an advisory lock, so two daemons starting together
// do not race on CREATE TABLE (IF NOT EXISTS is not atomic against a concurrent
// creation); with every table there it creates nothing, so a role without
// CREATE on the schema works once an administrator made them.
extern const char* const kCreateSchema;

// $1 domain, $2 txt_id, $3 body, $4 fetched_at, $5 expires_at, $6 checked_at.
// Replaces the row only when this one was fetched later, or fetched at the
// same time and checked later.
extern const char* const kUpsertPolicy;
// $1 destination, $2 level, $3 summary, $4 fetched_at, $5 expires_at,
// $6 keep_until. Replaces the row unless it holds a later lookup.
extern const char* const kUpsertDane;
// $1 the name: its policy and its DANE result.
extern const char* const kRemove;
// $1 domain, $2 txt_id, $3 checked_at.
extern const char* const kConfirm;

// Six columns, in CachedPolicy's order: domain, txt_id, body, fetched_at,
// expires_at, checked_at.
extern const char* const kSelectPolicies;
extern const char* const kSelectPolicy;  // $1 domain
extern const char* const kListPolicies;  // $1 now, $2 limit: unexpired ones
extern const char* const kListDane;      // $1 now, $2 limit: those still answering
extern const char* const kSelectDanes;   // destination, level, summary, fetched_at, ...
extern const char* const kSelectDane;    // $1 destination
// $1 now: DANE results past keep_until, never used again by any daemon.
extern const char* const kPurgeStaleDane;
// $1 now, $2 checked_before, $3 expires_before, $4 limit: domain, txt_id, and
// whether it is expiring or past half its max_age (SqliteStore's rule).
extern const char* const kDueForRefresh;

// Row `row` of a kSelectPolicies-shaped result, checked as every stored record
// is (record_check.hpp); the reason it is unusable, if it is.
std::optional<std::string> read_policy_row(const PGresult* result, int row, CachedPolicy& policy,
                                           std::int64_t now);
std::optional<std::string> read_dane_row(const PGresult* result, int row, CachedDane& dane,
                                         std::int64_t now);

// A bigint column as text; std::nullopt for NULL or what is not a number.
std::optional<std::int64_t> int_column(const PGresult* result, int row, int column);
std::string text_column(const PGresult* result, int row, int column);

}  // namespace mtasts::cache::pgsql
