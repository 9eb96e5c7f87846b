#pragma once
// The persistence tier behind the in-memory policy cache. The resolver's memory
// cache answers every hit; a store only keeps learned policies beyond the process
// (SQLite) or shares them across a fleet (Redis). The memory ("internal") cache
// type has no store at all.
#include <functional>
#include <optional>
#include <string>

#include "cache/cached_dane.hpp"
#include "cache/cached_policy.hpp"

namespace mtasts::cache {

class PolicyStore {
 public:
  virtual ~PolicyStore() = default;
  virtual std::string describe() const = 0;  // for logs: "sqlite:/var/lib/mta-stsd/cache.db"
  // Called once at start-up: hands every stored, parseable policy to sink.
  virtual void load_all(const std::function<void(CachedPolicy)>& sink) = 0;
  // One domain, on a memory miss (another daemon of the fleet may have learned
  // it, or memory dropped it): done runs exactly once, on the event loop thread,
  // possibly before fetch returns; std::nullopt when the store has nothing usable
  // or cannot answer within its short deadline.
  virtual void fetch(const std::string& domain,
                     std::function<void(std::optional<CachedPolicy>)> done) = 0;
  // Persist or replace; must not block the event loop for long (backends queue).
  virtual void save(const CachedPolicy& policy) = 0;
  // Forgets the domain's policy and its DANE result (both kinds of record).
  virtual void remove(const std::string& domain) = 0;

  // DANE results (RFC 7672), kept apart from policies and keyed by
  // CachedDane::destination. Same contracts as the policy calls above. The
  // resolver ignores records past keep_until; backends drop them when they can
  // (a Redis key expires then, SQLite deletes them at start-up).
  virtual void load_all_dane(const std::function<void(CachedDane)>& sink) = 0;
  virtual void fetch_dane(const std::string& destination,
                          std::function<void(std::optional<CachedDane>)> done) = 0;
  virtual void save_dane(const CachedDane& dane) = 0;

  // Flush queued writes (shutdown).
  virtual void flush() = 0;
};

}  // namespace mtasts::cache
