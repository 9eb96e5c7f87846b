#pragma once
// The store's part in a flight (issue 16: the store is the truth until
// max_age, RFC 8461 §3.3, §5.1). A cold domain reads the store before the
// network: another daemon of the fleet may have learned its policy, or memory
// may have dropped it (cache_size). While the store cannot say whether it
// holds a policy, the flight's waiters never get NOTFOUND: a later read (a
// query joining) may still find it, and until then a deadline answers TEMP.
// A query joining a refresh of a policy memory has dropped meanwhile reads the
// store too, rather than wait on a policy host that may hang.
// It decides nothing about answers: PolicyResolver asks it what the store said.
#include <functional>
#include <memory>
#include <string>

#include "cache/store.hpp"
#include "resolver/discovery.hpp"
#include "resolver/resolver_settings.hpp"
#include "resolver/single_flight.hpp"
#include "resolver/stored_policies.hpp"
#include "util/string_map.hpp"

namespace mtasts::resolver {

// A policy flight ends with a discovery's result, or with the store's answer before it.
using PolicyFlights = SingleFlight<DiscoveryResult>;

class StoreFirst {
 public:
  // Every reference outlives this (PolicyResolver owns them all); store may be null.
  StoreFirst(PolicyFlights& flights, cache::PolicyStore* store, StoredPolicies& stored,
             ResolverStats& stats)
      : flights_(flights), store_(store), stored_(stored), stats_(stats) {}
  ~StoreFirst() { *alive_ = false; }
  StoreFirst(const StoreFirst&) = delete;
  StoreFirst& operator=(const StoreFirst&) = delete;

  // The network's turn, with why the store could not answer (empty: it could,
  // or there is no store).
  using Discover = std::function<void(std::string store_failure)>;
  // A flight just opened for a domain memory does not hold: the store is read
  // before any bound on discoveries applies (a stored policy is never
  // answered "overloaded"); a policy found ends the flight, otherwise discover runs.
  void begin_cold(const std::string& domain, Discover discover);
  // A flight opened to refresh a policy memory holds (network only), or a
  // cold flight the store answered: a query joining it while memory has
  // dropped the policy reads the store (joined).
  void begin_refresh(const std::string& domain);
  // A query joined a flight already open: read the store when it may know
  // more than the flight will (see above).
  void joined(const std::string& domain);
  // Why the store could not answer for this flight, or null when it could.
  const std::string* unknown(const std::string& domain) const;

 private:
  struct Unknown {
    std::string failure;
    bool rereading = false;
  };
  void mark_unknown(const std::string& domain, const std::string& failure);
  void reread(const std::string& domain, Unknown& unknown);
  void answer_waiters(const std::string& domain, std::string_view what);

  PolicyFlights& flights_;
  cache::PolicyStore* store_;
  StoredPolicies& stored_;
  ResolverStats& stats_;
  // Flights that refresh a policy memory held (or a store read found).
  util::StringMap<bool> refreshing_;
  // Cold flights whose store read failed, with why.
  util::StringMap<Unknown> unknown_;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace mtasts::resolver
