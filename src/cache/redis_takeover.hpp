#pragma once
// Taking over postfix-mta-sts-resolver's Redis cache (issue 13), at start-up, on
// the blocking connection of the start-up load. Its keys (redis_cache.py, 1.1.2
// and 1.5.0 alike) are the bare domain names, each a ZSET of one member scored
// with the fetch time (takeover_entry.hpp: split_redis_member), next to a hash
// "_metadata". They are only read (SCAN ... TYPE zset, ZREVRANGE, as its get()
// does), never written or deleted: its daemon can be switched back to. Each usable
// entry becomes a policy of ours, handed to the caller, who answers from it and
// writes it under our own key (so the fleet shares it and it expires with the
// policy); a domain that already has our own key keeps ours. Entries are checked
// like any stored record (record_check.hpp); expired ones are not revived.
#include <cstdint>
#include <functional>
#include <string>

#include "cache/cached_policy.hpp"
#include "cache/redis_sync_client.hpp"

namespace mtasts::cache {

struct RedisTakeoverCounts {
  std::size_t entries = 0;   // its ZSET keys read
  std::size_t taken = 0;     // handed to take()
  std::size_t expired = 0;   // past ts + max_age
  std::size_t unusable = 0;  // each logged (up to a bound) with its reason
  std::size_t ours = 0;      // the domain already had a key of ours
};

// Keys starting with one of our prefixes are ours, not its. has_own(domain): a
// policy of ours was loaded for the domain. `where` names the server in logs.
RedisTakeoverCounts take_over_resolver_keys(RedisSyncClient& client, const std::string& where,
                                            const std::string& policy_prefix,
                                            const std::string& dane_prefix, std::int64_t now,
                                            const std::function<bool(const std::string&)>& has_own,
                                            const std::function<void(CachedPolicy)>& take);

}  // namespace mtasts::cache
