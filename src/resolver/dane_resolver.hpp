#pragma once
// The DANE side of every answer (RFC 7672; RFC 8461 §2: DANE wins): cached
// results by destination, single-flight lookups, per-query deadlines, stale
// results while lookups fail, background refresh, persistence in the store,
// and the check that the configured resolver validates at all.
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>

#include "cache/store.hpp"
#include "dane/precedence.hpp"
#include "resolver/adoption.hpp"
#include "resolver/alarm_board.hpp"
#include "resolver/dane_cache.hpp"
#include "resolver/dane_discovery.hpp"
#include "resolver/network.hpp"
#include "resolver/observer.hpp"
#include "resolver/single_flight.hpp"
#include "resolver/timers.hpp"
#include "resolver/validation_watch.hpp"
#include "util/clock.hpp"

namespace mtasts::resolver {

struct DaneSettings {
  bool enabled = true;
  dane::OnFailure on_failure = dane::OnFailure::temp;
  std::uint32_t min_ttl = 60;  // s: DNS TTLs are bounded to [min_ttl, max_ttl]
  std::uint32_t max_ttl = 3600;
  std::uint32_t stale_ttl = 3600;       // s past expiry a result still answers while lookups fail
  std::uint32_t temp_failure_ttl = 30;  // s before a failed lookup is retried
  std::size_t max_concurrent = 256;
  std::size_t max_queued = 4096;  // cold lookups waiting for a slot; beyond, answered as failed
  std::size_t cache_size = 10000;
};

struct DaneOutcome {
  bool known = false;  // false: no usable result (lookups failing, nothing cached)
  dane::Level level = dane::Level::none;
  bool stale = false;  // known from a result past its TTL because the lookup failed
  std::string reason;  // the summary, or what failed
};

struct DaneStats {
  std::uint64_t lookups = 0, failures = 0, stale_answers = 0, store_hits = 0;
};

class DaneResolver {
 public:
  DaneResolver(Timers& timers, DnsPort& dns, const util::Clock& clock, DaneSettings settings,
               cache::PolicyStore* store);
  ~DaneResolver();
  DaneResolver(const DaneResolver&) = delete;
  DaneResolver& operator=(const DaneResolver&) = delete;

  const DaneSettings& settings() const { return settings_; }
  // A configuration reload: on_failure, the TTL bounds and the limits apply to
  // the next answers and lookups; `enabled` and cache_size stay as started.
  void reconfigure(const DaneSettings& settings);
  std::size_t load_store();
  // Every DANE result the store holds that still answers (mta-stsctl export:
  // memory drops results beyond cache_size), at most `limit`; none without a
  // store. done runs once.
  void stored_results(std::size_t limit, std::function<void(std::vector<cache::CachedDane>)> done);
  // Asks the resolver for the root's DNSKEY with AD set: a validating resolver
  // with the root trust anchor vouches for it. Only a definite "no" warns here;
  // otherwise the first lookups decide.
  void probe();

  DaneCache::Lookup peek(std::string_view destination, std::int64_t now) {
    return cache_.lookup(destination, now);
  }
  // done runs exactly once, never before resolve returns, at the latest at deadline.
  void resolve(const DaneTarget& target, MonoTime deadline, std::function<void(DaneOutcome)> done);
  // A background lookup; false when one is in flight or the slots are full.
  bool refresh(const DaneTarget& target);
  // Queues background lookups for results that protect mail and expire within
  // horizon seconds; returns how many.
  std::size_t sweep(std::int64_t horizon);
  bool purge(const std::string& destination);
  // A result from outside (mta-stsctl import), checked as a store's record and
  // kept unless the one held (memory, else the store) was looked up as late or
  // later, or is unexpired and stronger. done runs once (possibly at once).
  void import_result(cache::CachedDane record, std::function<void(Adoption)> done);

  // "disabled", "unknown" (no answer with the AD bit yet), "active", "inert".
  std::string_view status() const;
  const DaneCache& cache() const { return cache_; }
  const DaneStats& stats() const { return stats_; }
  void set_observer(Observer* observer) { observer_ = observer; }
  // Where "DANE turned insecure" is raised (the policy lifecycle's board).
  void set_alarms(AlarmBoard* alarms) { alarms_ = alarms; }
  std::size_t in_flight() const { return flights_.size(); }

 private:
  // The flight's work: the store first (another daemon may know, or memory
  // dropped it), then the DNS lookups.
  void begin(const DaneTarget& target, const std::string& destination);
  void lookup(const DaneTarget& target, const std::string& destination);
  void complete(const std::string& destination, DaneDiscovery discovery);
  DaneOutcome fallback(const std::string& destination, std::string reason);
  void note_change(const std::string& destination, const cache::CachedDane& result,
                   std::int64_t now);

  DnsPort& dns_;
  const util::Clock& clock_;
  DaneSettings settings_;
  cache::PolicyStore* store_;
  DaneCache cache_;
  SingleFlight<DaneOutcome> flights_;
  DaneStats stats_;
  Timers& timers_;
  Observer* observer_ = nullptr;
  AlarmBoard* alarms_ = nullptr;
  ValidationWatch validation_;
  std::shared_ptr<bool> alive_;
};

}  // namespace mtasts::resolver
