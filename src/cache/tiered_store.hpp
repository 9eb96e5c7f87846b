#pragma once
// Two stores as one: a shared primary (Redis, the fleet's memory) and a local
// secondary (SQLite) that keeps every policy this daemon learned even when the
// primary is down during a restart (decisions.md: nothing learned is thrown away).
#include <memory>

#include "cache/store.hpp"

namespace mtasts::cache {

class TieredStore final : public PolicyStore {
 public:
  TieredStore(std::unique_ptr<PolicyStore> primary, std::unique_ptr<PolicyStore> secondary);

  std::string describe() const override;
  // Both tiers; for a domain in both, the more recently fetched policy wins.
  void load_all(const std::function<void(CachedPolicy)>& sink) override;
  // Primary first (another daemon may have learned it; a hit is copied to the
  // local tier), then the local tier.
  void fetch(const std::string& domain,
             std::function<void(std::optional<CachedPolicy>)> done) override;
  void save(const CachedPolicy& policy) override;
  void remove(const std::string& domain) override;
  // DANE results tier the same way: both tiers at load (newest lookup wins),
  // primary first on a miss with the hit copied locally, writes to both.
  void load_all_dane(const std::function<void(CachedDane)>& sink) override;
  void fetch_dane(const std::string& destination,
                  std::function<void(std::optional<CachedDane>)> done) override;
  void save_dane(const CachedDane& dane) override;
  void flush() override;

 private:
  std::unique_ptr<PolicyStore> primary_;
  std::shared_ptr<PolicyStore> secondary_;  // shared: a pending fetch may outlive a swap
};

}  // namespace mtasts::cache
