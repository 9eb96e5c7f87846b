#pragma once
// The persistence tier behind the in-memory policy cache. The resolver's memory
// cache answers every hit; a store only keeps learned policies beyond the process
// (SQLite) or shares them across a fleet (Redis). The memory ("internal") cache
// type has no store at all.
#include <array>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "cache/cached_dane.hpp"
#include "cache/cached_policy.hpp"
#include "cache/store_errors.hpp"

namespace mtasts::cache {

// What a store says about one key: the record, no record, or that it could not
// tell (down, too slow, a read error). The difference matters (issue 16): only a
// store that answered "no record" lets the resolver conclude that nothing
// protects the domain; one that could not answer may hold its enforce policy.
// A record that exists but fails the checks (record_check.hpp) is "no record":
// it is never answered, and the store logs why.
template <class Record>
struct StoreRead {
  std::optional<Record> record;
  std::string failure;  // non-empty: the store could not answer; record is empty

  static StoreRead found(Record r) { return {std::move(r), {}}; }
  static StoreRead absent() { return {}; }
  static StoreRead failed(std::string why) { return {std::nullopt, std::move(why)}; }
  // From a read that did answer: the record, or none.
  static StoreRead answered(std::optional<Record> r) { return {std::move(r), {}}; }
  bool unknown() const { return !failure.empty(); }
};
using PolicyRead = StoreRead<CachedPolicy>;
using DaneRead = StoreRead<CachedDane>;

class PolicyStore {
 public:
  virtual ~PolicyStore() = default;
  virtual std::string describe() const = 0;  // for logs: "sqlite:/var/lib/mta-stsd/cache.db"
  // Called once at start-up: hands every stored, parseable policy to sink.
  // False when the store could not be read, or not to the end (unreachable, an
  // I/O error): what it holds is then unknown, not "nothing" (issue 16).
  virtual bool load_all(const std::function<void(CachedPolicy)>& sink) = 0;
  // One domain, on a memory miss (another daemon of the fleet may have learned
  // it, or memory dropped it): done runs exactly once, on the event loop thread,
  // possibly before fetch returns; absent when the store has nothing usable,
  // failed when it cannot answer (unreachable, a read error, or not within its
  // short deadline).
  virtual void fetch(const std::string& domain, std::function<void(PolicyRead)> done) = 0;
  // Persist or replace; must not block the event loop for long (backends queue).
  virtual void save(const CachedPolicy& policy) = 0;
  // Forgets the domain's policy and its DANE result (both kinds of record).
  virtual void remove(const std::string& domain) = 0;

  // DANE results (RFC 7672), kept apart from policies and keyed by
  // CachedDane::destination. Same contracts as the policy calls above. The
  // resolver ignores records past keep_until; backends drop them when they can
  // (a Redis key expires then, SQLite deletes them at start-up).
  virtual void load_all_dane(const std::function<void(CachedDane)>& sink) = 0;
  virtual void fetch_dane(const std::string& destination, std::function<void(DaneRead)> done) = 0;
  virtual void save_dane(const CachedDane& dane) = 0;

  // The proactive refresh over what only the store holds (cache_size keeps
  // memory smaller than the store, and a policy must not lapse because memory
  // dropped it; RFC 8461 §3.3, §10.2). Unexpired policies last checked before
  // checked_before, or expiring before expires_before, or past half their
  // max_age (`aging`: then refetched whatever the TXT id says); at most `limit`.
  // done runs once on the event loop thread. A store that cannot list them
  // cheaply (Redis) hands back nothing: memory's own sweep still runs.
  struct RefreshDue {
    std::string domain;
    std::string txt_id;
    bool expiring_or_aging = false;
  };
  virtual void due_for_refresh(std::int64_t now, std::int64_t checked_before,
                               std::int64_t expires_before, std::size_t limit,
                               std::function<void(std::vector<RefreshDue>)> done) {
    (void)now, (void)checked_before, (void)expires_before, (void)limit;
    done({});
  }
  // A refresh found the TXT id unchanged: the stored policy with that id was
  // checked at checked_at (so the store's sweep does not pick it again).
  virtual void confirm(const std::string& domain, const std::string& txt_id,
                       std::int64_t checked_at) {
    (void)domain, (void)txt_id, (void)checked_at;
  }

  // Every unexpired policy the store holds, at most `limit`, each checked as
  // any record read (mta-stsctl list: memory is not the whole cache). done runs
  // once on the event loop thread. A store that cannot list without blocking
  // the loop (Redis) hands back nothing.
  virtual void list_policies(std::int64_t now, std::size_t limit,
                             std::function<void(std::vector<CachedPolicy>)> done) {
    (void)now, (void)limit;
    done({});
  }

  // Every DANE result the store holds that still answers (before keep_until),
  // at most `limit` (mta-stsctl export: memory is not the whole cache). done
  // runs once on the event loop thread. A store that cannot list without
  // blocking the loop (Redis) hands back nothing.
  virtual void list_dane(std::int64_t now, std::size_t limit,
                         std::function<void(std::vector<CachedDane>)> done) {
    (void)now, (void)limit;
    done({});
  }

  // How many unexpired policies the store holds (memory's included), by mode,
  // and how many of them expire before expiring_before: the metrics' gauges
  // over what memory does not hold (cache_size; issue 16). Reads the whole
  // store on the calling thread: callers bound how often. Empty when the
  // store cannot count (or not to the end).
  struct Census {
    std::array<std::int64_t, 3> by_mode{};  // indexed by sts::Mode
    std::int64_t expiring = 0;
  };
  virtual std::optional<Census> census(std::int64_t now, std::int64_t expiring_before) {
    (void)now, (void)expiring_before;
    return std::nullopt;
  }

  // What each backend behind this store could not do so far (store_errors.hpp):
  // one entry per backend, two for a tiered store. Any thread may ask.
  virtual std::vector<StoreErrorCounts> error_counts() const { return {}; }

  // Flush queued writes (shutdown).
  virtual void flush() = 0;
};

}  // namespace mtasts::cache
