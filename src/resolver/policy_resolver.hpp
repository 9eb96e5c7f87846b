#pragma once
// The policy lifecycle behind every answer: zones, the memory cache over the
// store, single-flight discovery per domain within bounds, per-query deadlines,
// background revalidation, negative caching and §3.3 back-off, DANE first.
// It knows nothing of the socketmap protocol: the daemon's handler parses the
// key and hands the answer's text back to Postfix.
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "cache/store.hpp"
#include "resolver/adoption.hpp"
#include "resolver/alarm_board.hpp"
#include "resolver/answer.hpp"
#include "resolver/dane_first.hpp"
#include "resolver/dane_resolver.hpp"
#include "resolver/discovery.hpp"
#include "resolver/domain_cache.hpp"
#include "resolver/downgrade.hpp"
#include "resolver/network.hpp"
#include "resolver/observer.hpp"
#include "resolver/resolver_settings.hpp"
#include "resolver/settlement.hpp"
#include "resolver/single_flight.hpp"
#include "resolver/store_first.hpp"
#include "resolver/stored_policies.hpp"
#include "resolver/timers.hpp"
#include "resolver/zone_table.hpp"
#include "sts/answer.hpp"
#include "sts/query_key.hpp"
#include "util/clock.hpp"
#include "util/string_map.hpp"

namespace mtasts::resolver {

class PolicyResolver : private StsLifecycle {
 public:
  // zones[0] is the default zone, used for unknown socketmap names.
  PolicyResolver(Timers& timers, DnsPort& dns, HttpsPort& https, const util::Clock& clock,
                 std::vector<Zone> zones, ResolverSettings settings,
                 cache::PolicyStore* store = nullptr, DaneResolver* dane = nullptr);
  ~PolicyResolver();
  PolicyResolver(const PolicyResolver&) = delete;
  PolicyResolver& operator=(const PolicyResolver&) = delete;

  // The store beyond the answer path: start-up load, recall (mta-stsctl show),
  // the sweep over store-only policies, list and export.
  StoredPolicies& stored() { return stored_; }

  // The zone a socketmap name selects (0, the default zone, for unknown names).
  std::size_t zone_index(std::string_view map_name) const { return zones_.index(map_name); }
  // The answer for a key the handler parsed as Kind::domain; done runs exactly
  // once, at once for cached domains, at the latest at the zone's timeout.
  void answer(std::size_t zone, const sts::QueryKey& query, AnswerCallback done);
  // A key that is not a domain (answered NOTFOUND by the handler), for stats.
  void count_rejected_key() {
    ++stats_.queries;
    ++stats_.rejected_keys;
  }

  // Admin operations (mta-stsctl through the control socket).
  // Forgets a domain in memory and in the store; true when memory had it.
  // dane_destination: the DANE cache key of the next hop (see dane_destination()).
  bool purge(const std::string& domain, const std::string& dane_destination);
  // Starts a background discovery (store first) for a domain that has no
  // unexpired policy in memory; false when it is cached, already in flight, or
  // the discovery slots and queue are full.
  bool prefetch(const std::string& domain);
  // A policy from outside (mta-stsctl import), checked as a store's record
  // (cache/record_check.hpp) and kept in memory and the store unless the
  // daemon holds one fetched as late or later, or it would downgrade an
  // unexpired policy held (cache::shared_downgrade). The store is read first
  // when memory has none; done runs once (possibly at once).
  void import_policy(cache::CachedPolicy record, std::function<void(Adoption)> done);
  // A background check of a cached policy (proactive refresh, RFC 8461 §3.3,
  // §10.2); finished runs when it ends. False when the domain is in flight or no
  // discovery slot is free (background work never queues).
  bool refresh(const std::string& domain, std::string known_id, std::function<void()> finished);
  // A configuration reload: the zones' answer options and timeouts, the
  // timing settings (cache_grace, negative_ttl, retry_interval, fetch_timeout,
  // temp_failure_ttl), the discovery limits (max_concurrent, max_queued: queued
  // discoveries start at once under a raised limit) and the alarm margins;
  // cache_size stays as started. Cached policies stay, answered with the new
  // options. Zones are matched by name: a new name gets the next index, a
  // name no longer configured is retired (Zone::retired). An index is never
  // reused for another zone (queries in flight, the cache's answer classes and
  // the metrics' series refer to it); a retired name configured again gets its
  // own index back. rerender false: no zone's options changed, cached answers
  // stay as they are (a change of the zone set re-renders anyway).
  ZoneChanges reconfigure(std::vector<Zone> zones, const ResolverSettings& settings,
                          bool rerender = true);
  // Every zone by index, the retired ones included.
  const std::vector<Zone>& zones() const { return zones_.all(); }
  // Told whenever a discovery slot frees up.
  void on_slot_freed(std::function<void()> fn) { flights_.on_slot_freed(std::move(fn)); }
  bool slot_free() const { return flights_.slot_free(); }

  // Told of every discovery, refresh, DANE lookup and alarm (null: nobody).
  void set_observer(Observer* observer);

  const ResolverStats& stats() const { return stats_; }
  // The domains (and DANE destinations) whose protection is in danger now.
  const AlarmBoard& alarms() const { return alarms_; }
  const DomainCache& cache() const { return cache_; }
  const DaneResolver* dane() const { return dane_; }
  DaneResolver* dane() { return dane_; }
  std::size_t answer_class(std::size_t zone) const { return zones_.answer_class(zone); }
  std::size_t in_flight() const { return flights_.size(); }
  std::size_t running() const { return flights_.running(); }
  std::size_t queued() const { return flights_.queued(); }

 private:
  // StsLifecycle: what DaneFirst asks of MTA-STS.
  void sts_answer(const std::string& domain, std::size_t zone, dane::Level dane,
                  std::optional<MonoTime> deadline, AnswerCallback done) override;
  Answer cached_answer(const std::string& domain, std::size_t zone) override;
  void start_if_cold(const std::string& domain, std::size_t zone) override;
  void wait_for(const std::string& domain, std::size_t zone, dane::Level dane, MonoTime deadline,
                AnswerCallback done);
  void reply(const std::string& domain, Answer answer, std::string_view why,
             const AnswerCallback& done);

  // A flight's work: a cold domain reads the store first (StoreFirst), then the network.
  void open_cold(const std::string& domain);
  void open_refresh(const std::string& domain);
  void begin_cold(const std::string& domain);
  // store_failure: why the store could not say whether it holds the domain's
  // policy (empty: it could, or was not asked); an overload then answers TEMP.
  void discover_network(const std::string& domain, std::string known_id,
                        std::string store_failure = {});
  // The discovery's result, applied (settlement.hpp): on a failure with nothing
  // in memory the store is asked before "no policy" is recorded (§3.3: the store
  // is the truth until max_age).
  void settle(const std::string& domain, DiscoveryResult result);
  DnsPort& dns_;
  HttpsPort& https_;
  const util::Clock& clock_;
  Timers& timers_;
  ZoneTable zones_;
  ResolverSettings settings_;
  cache::PolicyStore* store_;
  DaneResolver* dane_;                     // null or disabled: MTA-STS only
  std::unique_ptr<DaneFirst> dane_first_;  // with dane_ only
  DomainCache cache_;
  PolicyFlights flights_;
  ResolverStats stats_;
  StoredPolicies stored_;   // refers to cache_, clock_ and stats_
  StoreFirst store_first_;  // refers to flights_, store_, stored_ and stats_
  Observer* observer_ = nullptr;
  AlarmBoard alarms_;
  std::shared_ptr<bool> alive_;
  Settlement settlement_;  // refers to the members above
};

}  // namespace mtasts::resolver
