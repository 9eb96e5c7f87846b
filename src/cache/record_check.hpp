#pragma once
// The one check every record read back from a store passes before the resolver
// sees it. A store is not the network: whoever can write the file or the shared
// server (another fleet member, an admin's script, an attacker with the Redis
// password) decides what comes back, so a record is believed only as far as
// RFC 8461 lets a fetched policy be believed (issue 16):
//   - fetched_at (and checked_at) not in the future, beyond kMaxClockSkew;
//   - expires_at never past fetched_at + min(max_age, 31,557,600) (§3.2: a
//     policy lives at most max_age, at most a year) and not before fetched_at;
//   - the policy text re-parsed with the §3.2 rules and agreeing with the
//     parsed fields the record carries (mode, max_age, mx);
//   - txt_id an §3.1 id (1-32 letters or digits), domain non-empty.
// DANE results (RFC 7672): fetched_at not in the future, expires_at not before
// it, and both the TTL and the stale time within what the configuration allows.
//
// The check takes `now` instead of reading a clock, so simulated time tests it.
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_set>

#include "cache/cached_dane.hpp"
#include "cache/cached_policy.hpp"

namespace mtasts::cache {

// Two hosts of a fleet, or a host and the file it wrote before an NTP step,
// disagree by seconds; more than this is not skew but a forged or broken time.
inline constexpr std::int64_t kMaxClockSkew = 300;
// The largest dane.max_ttl and dane.stale_ttl the configuration accepts
// (config/loader.cpp): a DANE result is fresh for at most the one and kept
// past its expiry for at most the other.
inline constexpr std::int64_t kMaxDaneTtl = 604800;
inline constexpr std::int64_t kMaxDaneStale = 604800;

// Why the record must not be used, or std::nullopt when it may. `record.policy`
// must be what parse_policy(record.body) gives: a record whose parsed fields
// disagree with its text is refused.
std::optional<std::string> check_policy_record(const CachedPolicy& record, std::int64_t now);

// For stores that keep the text only (SQLite rows, Redis values): parses
// record.body into record.policy, then the same checks. One parse per record.
std::optional<std::string> adopt_policy_record(CachedPolicy& record, std::int64_t now);

std::optional<std::string> check_dane_record(const CachedDane& record, std::int64_t now);

// Unix seconds from the system clock: what the stores check against.
std::int64_t wall_clock_now();

// Remembers what was already logged, so an unusable record read on every
// memory miss is logged once, not once per query. Bounded: past kMaxRemembered
// names it starts over (a name may then be logged once more). Thread-safe.
class LogOnce {
 public:
  static constexpr std::size_t kMaxRemembered = 10000;
  // True the first time (name, reason) is seen.
  bool first(std::string_view name, std::string_view reason);

 private:
  std::mutex mutex_;
  std::unordered_set<std::string> seen_;
};

}  // namespace mtasts::cache
