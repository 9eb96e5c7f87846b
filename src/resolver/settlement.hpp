#pragma once
// What a finished discovery does to what the daemon holds for a domain: a new
// policy is learned (memory and store), an unchanged TXT id confirms the policy
// held, a failure keeps it and backs off (RFC 8461 §3.3, §10.2), and a domain
// with nothing to keep is remembered as "no policy" for a while. The alarms
// hear of each step (downgrade.hpp). It decides nothing about answers or
// flights: PolicyResolver reads the store when memory has nothing, then hands
// the result here.
#include <cstdint>
#include <string>

#include "cache/cached_policy.hpp"
#include "cache/store.hpp"
#include "resolver/alarm_board.hpp"
#include "resolver/discovery.hpp"
#include "resolver/domain_cache.hpp"
#include "resolver/observer.hpp"
#include "resolver/resolver_settings.hpp"

namespace mtasts::resolver {

class Settlement {
 public:
  // Every reference outlives the settlement (PolicyResolver owns them all);
  // settings are read at each step, so a reload applies at once.
  Settlement(DomainCache& cache, cache::PolicyStore* store, AlarmBoard& alarms,
             const ResolverSettings& settings, ResolverStats& stats)
      : cache_(cache), store_(store), alarms_(alarms), settings_(settings), stats_(stats) {}

  void set_observer(Observer* observer) { observer_ = observer; }

  // A policy was fetched: it replaces whatever memory held (§8.3: even enforce
  // by none), goes to the store, and a change of a held policy is judged for
  // the downgrade alarm.
  void learn(const std::string& domain, const DiscoveryResult& result, std::int64_t now);
  // The TXT id is unchanged or the discovery failed, and `kept` is the
  // unexpired policy held: confirmed, or kept with a back-off.
  void keep(const std::string& domain, const DiscoveryResult& result,
            const cache::CachedPolicy& kept, std::int64_t now);
  // Nothing is held and the store said it has nothing: "no policy", remembered
  // for a time chosen by why (temporary DNS failure, no record, failed fetch).
  void remember_none(const std::string& domain, const DiscoveryResult& failed, std::int64_t now);
  // Nothing is held and the store could not say whether it has a policy: it
  // may hold an enforce one, so nothing is remembered and the result is marked
  // for TEMP answers, never NOTFOUND (issue 16).
  void store_unknown(const std::string& domain, DiscoveryResult& result,
                     const std::string& store_failure);

 private:
  void back_off(const std::string& domain, const DiscoveryResult& result,
                const cache::CachedPolicy& kept, std::int64_t now);

  DomainCache& cache_;
  cache::PolicyStore* store_;
  AlarmBoard& alarms_;
  const ResolverSettings& settings_;
  ResolverStats& stats_;
  Observer* observer_ = nullptr;
};

}  // namespace mtasts::resolver
