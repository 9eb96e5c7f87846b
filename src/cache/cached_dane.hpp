#pragma once
// One DANE discovery result (RFC 7672) as the cache keeps it, in memory and in
// every store, next to (not inside) the domain's MTA-STS policy. Only definite
// results are kept: a temporary DNS failure is never stored.
#include <cstdint>
#include <string>

#include "dane/level.hpp"

namespace mtasts::cache {

struct CachedDane {
  // The destination as looked up: a domain ("example.com") or, for Postfix's
  // "[host]:port" next hops, "[host]:port" (no MX lookup, TLSA at _port._tcp.host).
  std::string destination;
  dane::Level level = dane::Level::none;
  std::string summary;          // one line for logs and mta-stsctl: MX hosts, DNSSEC status, TLSA
  std::int64_t fetched_at = 0;  // unix seconds of the lookup
  std::int64_t expires_at =
      0;  // fetched_at + the smallest DNS TTL seen, bounded (dane.min_ttl..max_ttl)
  std::int64_t keep_until = 0;  // expires_at + dane.stale_ttl: still used while fresh lookups fail

  bool expired(std::int64_t now) const { return now >= expires_at; }
  bool usable_when_failing(std::int64_t now) const { return now < keep_until; }
};

}  // namespace mtasts::cache
