#pragma once
// The lifecycle's side of the store beyond the answer path: loading it at
// start-up, bringing back a policy memory dropped (cache_size), and listing
// what only the store holds (the proactive sweep, mta-stsctl list and export).
// Memory is not the whole cache (issue 16; RFC 8461 §3.3, §5.1): every path
// that asks "which policies do we hold?" asks here as well as memory.
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "cache/cached_policy.hpp"
#include "cache/store.hpp"
#include "resolver/domain_cache.hpp"
#include "resolver/resolver_settings.hpp"
#include "util/clock.hpp"

namespace mtasts::resolver {

class StoredPolicies {
 public:
  // store may be null (cache.type internal): then every call finds nothing.
  // The cache, clock and stats outlive this (PolicyResolver owns them all).
  StoredPolicies(cache::PolicyStore* store, DomainCache& cache, const util::Clock& clock,
                 ResolverStats& stats);
  ~StoredPolicies();
  StoredPolicies(const StoredPolicies&) = delete;
  StoredPolicies& operator=(const StoredPolicies&) = delete;

  cache::PolicyStore* store() const { return store_; }

  struct Loaded {
    std::size_t stored = 0;     // unexpired policies the store handed over
    std::size_t in_memory = 0;  // of those, kept in memory (cache_size bounds it)
    bool complete = true;       // false: the store could not be read (to the end)
  };
  // Loads the store's policies into memory (start-up).
  Loaded load();

  // A record the store handed back: kept in memory when it is the domain's and
  // unexpired (§5.1). True when it was.
  bool adopt(cache::PolicyRead& stored, const std::string& domain);

  // Brings a policy memory dropped back from the store (mta-stsctl show):
  // done runs once memory holds whatever unexpired policy the store had, at
  // once when memory has one already or there is no store.
  void recall(const std::string& domain, std::function<void()> done);

  // The proactive sweep over policies only the store holds: those due by the
  // same rule as memory's (see cache::PolicyStore::due_for_refresh), at most
  // `limit`, as refresh candidates. done runs once.
  void due_for_refresh(std::int64_t checked_before, std::int64_t expires_before, std::size_t limit,
                       std::function<void(std::vector<DomainCache::RefreshCandidate>)> done);

  using Listed = std::function<void(std::vector<cache::CachedPolicy>)>;
  // The unexpired policies only the store holds (mta-stsctl list), at most
  // `limit`. done runs once.
  void only_in_store(std::size_t limit, Listed done);
  // Every unexpired policy the store holds, those memory holds too included, at
  // most `limit`, with the text as fetched (memory keeps no body): what
  // mta-stsctl export writes. done runs once.
  void all(std::size_t limit, Listed done);

 private:
  cache::PolicyStore* store_;
  DomainCache& cache_;
  const util::Clock& clock_;
  ResolverStats& stats_;
  // The store answers on the event loop, possibly after this is gone (shutdown).
  std::shared_ptr<bool> alive_;
};

}  // namespace mtasts::resolver
