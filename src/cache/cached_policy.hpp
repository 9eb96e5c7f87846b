#pragma once
// One learned MTA-STS policy as the cache keeps it, in memory and in every store.
#include <cstdint>
#include <string>

#include "sts/policy.hpp"

namespace mtasts::cache {

struct CachedPolicy {
  std::string domain;  // policy domain, lower-case A-label
  std::string txt_id;  // RFC 8461 §3.1 id of the TXT record the policy was fetched under
  std::string body;    // the policy text as fetched: stores persist this, not a rebuilt form
  sts::Policy policy;  // parse_policy(body)
  std::int64_t fetched_at = 0;  // unix seconds of the successful fetch
  std::int64_t expires_at = 0;  // fetched_at + max_age (RFC 8461 §3.2, §5.1)
  std::int64_t checked_at = 0;  // last time the TXT id was seen unchanged (or fetched_at)

  bool expired(std::int64_t now) const { return now >= expires_at; }
};

}  // namespace mtasts::cache
