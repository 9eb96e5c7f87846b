#pragma once
// The policy lifecycle's settings (from the configuration, setup/) and its
// counters (the daemon's stats line and metrics), apart from PolicyResolver so
// the parts of the lifecycle can read them without it.
#include <chrono>
#include <cstddef>
#include <cstdint>

#include "resolver/downgrade.hpp"

namespace mtasts::resolver {

struct ResolverSettings {
  std::uint32_t cache_grace = 60;       // s before a cached policy's TXT id is re-checked
  std::uint32_t negative_ttl = 300;     // s a "no policy" result is remembered
  std::uint32_t retry_interval = 300;   // s between attempts for a failing domain (§3.3)
  std::uint32_t temp_failure_ttl = 30;  // s a DNS temporary failure is remembered
  std::size_t cache_size = 10000;
  std::size_t max_concurrent = 256;  // discoveries at once
  std::size_t max_queued = 4096;     // cold discoveries waiting for a slot
  std::chrono::milliseconds fetch_timeout{4000};
  AlarmSettings alarms;
};

struct ResolverStats {
  std::uint64_t dane_only = 0, dane = 0, dane_temp = 0;
  std::uint64_t queries = 0, hits = 0, negative_hits = 0, misses = 0, discoveries = 0,
                revalidations = 0, proactive = 0, store_hits = 0, timeouts = 0, overloaded = 0,
                rejected_keys = 0;
  // Memory misses the store could not answer (down, a read error, too slow);
  // those of them whose discovery then failed were answered TEMP, not NOTFOUND.
  std::uint64_t store_unknown = 0, store_unknown_temp = 0;
};

}  // namespace mtasts::resolver
