#pragma once
// Taking over postfix-mta-sts-resolver's SQLite cache (issue 13): an admin points
// mta-stsd at the same YAML file, so at the same database, and every policy that
// daemon learned must go on protecting mail from the first query on.
//
// Its database (1.1.2 and 1.5.0 alike, sqlite_cache.py) holds
//   sts_policy_cache (domain text, ts integer, pol_id text, pol_body text)
//   proactive_fetch_ts (id integer primary key, last_fetch_ts integer)
// plus two indexes on sts_policy_cache. What we do with it, and why:
//   - Its tables are never written, renamed or dropped: the data stays exactly as
//     the Python daemon left it, so an admin can switch back at any time.
//   - mta-stsd's own tables (mta_stsd_meta, policies, dane, taken_over) are
//     created beside them in the same file. That is safe for the Python daemon:
//     it only ever names its two tables ("create table if not exists", queries by
//     name, a scan by sts_policy_cache's rowid), both daemons use WAL, and the
//     same libsqlite3 reads WITHOUT ROWID tables. It keeps one file for the admin
//     (the path in the configuration), one backup to take, and no second path
//     that could drift from the configuration. Rejected: reading its table in
//     place on every lookup (every later write would need to go somewhere else
//     anyway), and converting into a file of our own with the original renamed
//     (the configured path would then no longer be the Python daemon's database).
//   - At each open every entry not taken over before is converted
//     (takeover_entry.hpp) and, unless this daemon already has a newer policy for
//     the domain, written to `policies`, where every read checks it like any
//     stored record. `taken_over` remembers (domain, ts, pol_id) of each entry
//     seen, so an entry is considered once: a domain purged with mta-stsctl is not
//     revived by the next restart, while one the Python daemon re-learned after a
//     switch back (new ts) is taken over again.
#include <sqlite3.h>

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

#include "cache/cached_policy.hpp"

namespace mtasts::cache {

enum class ResolverTable {
  absent,        // no sts_policy_cache table
  present,       // postfix-mta-sts-resolver's table, its four columns
  other_layout,  // a table of that name without them: not that daemon's
};

// The tables of postfix-mta-sts-resolver's database, which never make a file
// "another program's" (so moved aside) when its cache table is recognised.
bool is_resolver_table_name(std::string_view name);

ResolverTable find_resolver_table(sqlite3* db);

struct TakeoverCounts {
  std::size_t entries = 0;     // not taken over before
  std::size_t taken = 0;       // written to policies
  std::size_t expired = 0;     // past ts + max_age: not revived
  std::size_t unusable = 0;    // each logged (up to a bound) with its reason
  std::size_t ours_newer = 0;  // this daemon had a policy checked since
  bool failed = false;         // the transaction failed: nothing taken, tried again next open
};

// Takes over what is new in sts_policy_cache (find_resolver_table() == present)
// into db's `policies` table, in one transaction; logs one line with the counts
// (and each unusable entry on a line of its own). `path` is for the log.
TakeoverCounts take_over_resolver_table(sqlite3* db, const std::string& path, std::int64_t now);

// A file that cannot be written (yet): its owner is the Python daemon's user, a
// read-only mount. Nothing can be created beside its tables, so its entries are
// read in place, converted and checked the same way, and handed to sink; the
// takeover proper happens once the file opens for writing. `domain` set: that
// domain only (a memory miss), else every entry (start-up). Unusable entries go
// to `unusable` (domain, reason); expired ones are counted only.
TakeoverCounts read_resolver_table(
    sqlite3* db, const std::string* domain, std::int64_t now,
    const std::function<void(CachedPolicy)>& sink,
    const std::function<void(const std::string&, const std::string&)>& unusable);

}  // namespace mtasts::cache
