#pragma once
// One cache entry of postfix-mta-sts-resolver (the daemon mta-stsd replaces),
// turned into the CachedPolicy mta-stsd would have stored for it, so a switch of
// daemons keeps every learned policy (issue 13: no downgrade window).
//
// Its entry is the same in 1.1.2 (Debian 12) and 1.5.0 (Debian 13), in SQLite
// and in Redis: (ts, pol_id, pol_body), where
//   - ts: unix time of the last fetch or of the last check that found the TXT id
//     unchanged (its responder then writes the entry again with a new ts, so its
//     policy lives until ts + max_age: expiry counts from here, as ours does);
//   - pol_id: the TXT record's id the policy was fetched under;
//   - pol_body: utils.parse_mta_sts_policy() of the text, as json.dumps wrote it:
//     an object {"mx": [...], "version": "STSv1", "mode": "enforce",
//     "max_age": 86400, <any other key of the text>: "<value>"}, max_age an integer
//     (resolver.py converts it), every other value a string. The text itself was
//     not kept, so it is rebuilt (rebuild_policy_text) and then parsed and checked
//     exactly like a policy read from our own store (record_check.hpp).
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "cache/cached_policy.hpp"

namespace mtasts::cache {

struct TakeoverEntry {
  std::string_view domain;    // its key: filter_domain() of the query, lower case
  std::int64_t ts = 0;        // unix seconds
  std::string_view pol_id;    // the TXT id
  std::string_view pol_body;  // the JSON text
};

struct TakeoverResult {
  std::optional<CachedPolicy> policy;  // set when usable
  bool expired = false;                // valid but past ts + max_age: not revived
  std::string error;                   // why not usable (empty when usable or only expired)
};

// The largest pol_body taken over. Its policies were fetched with a 64 KiB limit
// (constants.HARD_RESP_LIMIT); JSON escaping grows them a little, not 16 times.
inline constexpr std::size_t kMaxTakeoverBody = 1024 * 1024;

// pol_body (the JSON object) back to policy text, in the RFC 8461 §3.2 order: the
// dict kept where each non-mx key was but not where the mx lines were, so the
// order every published policy uses is the one that can be rebuilt: version,
// mode, the mx lines in their order, max_age, then the other keys in the order
// the JSON has them (the text's). One key a line, "key: value\n"; the empty key
// an empty line gave is left out (decisions: empty lines carry nothing). Sets
// `error` and returns std::nullopt for what no fetched policy can give: not an
// object, mx not a list of strings, max_age not a whole number in 0..31557600,
// another value not a string, a line break inside a key or value.
std::optional<std::string> rebuild_policy_text(std::string_view pol_body, std::string& error);

// The entry as the record our own store would hold: domain normalised as a query
// key (lower-case A-label), fetched_at = checked_at = ts, expires_at = ts +
// max_age, body the rebuilt text; then adopt_policy_record (record_check.hpp):
// ts not in the future, a valid §3.1 id, a text that parses. An entry past its
// expiry at `now` is reported `expired`, never revived.
TakeoverResult take_over_entry(const TakeoverEntry& entry, std::int64_t now);

// Its Redis cache (redis_cache.py, both versions): one ZSET per domain, keyed by
// the domain itself, holding one member scored with ts (a float); the member is
// 16 random bytes (uuid4: equal entries still differ) then json.dumps([pol_id,
// pol_body]). Splits a member into pol_id and pol_body's JSON text (key order
// kept); false with `error` set when it is not that.
bool split_redis_member(std::string_view member, std::string& pol_id, std::string& pol_body,
                        std::string& error);

}  // namespace mtasts::cache
