#pragma once
// Taking over postfix-mta-sts-resolver's PostgreSQL cache (issue 13), the same
// way sqlite_takeover.hpp does for its SQLite file: an admin keeps the DSN of the
// YAML file, so mta-stsd opens the very database the Python daemon filled, and
// every policy it learned must go on protecting mail from the first query on.
//
// Its table (postgres_cache.py, 1.5.0):
//   sts_policy_cache (id serial primary key, domain text, ts integer,
//                     pol_id text, pol_body jsonb)
// with a unique index on domain. What we do with it:
//   - It is never written: an admin can switch back at any time.
//   - Each entry not seen before is converted (takeover_entry.hpp) and, unless
//     a daemon of the fleet already has a policy checked at or after its ts,
//     written to mta_stsd_policies, where every read checks it like any record.
//     pol_body is jsonb, which keeps no key order: keys beyond version, mode, mx
//     and max_age come back in jsonb's order (they carry nothing Postfix uses).
//   - mta_stsd_taken_over remembers (domain, ts, pol_id) of each entry seen, so
//     an entry is considered once: a domain purged with mta-stsctl is not revived
//     by the next start, one the Python daemon re-learned (new ts) is taken over.
//   - One transaction under the schema's advisory lock: daemons of a fleet that
//     start together take each entry over once.
#include <cstdint>
#include <string>

#include "cache/postgres_sync.hpp"

namespace mtasts::cache {

struct PostgresTakeoverCounts {
  std::size_t entries = 0;     // not seen before
  std::size_t taken = 0;       // written to mta_stsd_policies
  std::size_t expired = 0;     // past ts + max_age: not revived
  std::size_t unusable = 0;    // each logged (up to a bound) with its reason
  std::size_t ours_newer = 0;  // the fleet had a policy checked since
  bool failed = false;         // nothing taken; tried again at the next start
};

// Logs one line with the counts when there was anything new (and one per
// unusable entry, up to a bound). `where` names the database in logs.
PostgresTakeoverCounts take_over_postgres_resolver_table(
    PostgresSyncClient& client, const std::string& where, std::int64_t now,
    PostgresSyncClient::Clock::time_point deadline);

}  // namespace mtasts::cache
