#pragma once
// Two stores as one: a shared primary (Redis, the fleet's memory) and a local
// secondary (SQLite) that keeps every policy this daemon learned even when the
// primary is down during a restart (decisions.md: nothing learned is thrown away).
//
// Trust boundary (issue 16): whoever can write the shared store speaks for the
// whole fleet, so what it says is checked, and it cannot take back what this
// daemon learned itself. Every record from either tier passes
// check_policy_record / check_dane_record (record_check.hpp). When both tiers
// hold a policy for a domain, the more recently fetched one wins, except that a
// shared record that is a downgrade of the unexpired local one never wins:
//   - the local policy is mode enforce and the shared one is testing or none,
//     whatever its TXT id;
//   - the same TXT id with a weaker mode (enforce > testing > none) or other
//     mx patterns (fewer, more or different): an id names one policy (RFC 8461
//     §3.1), so the shared record was not fetched under it.
// The local record is kept and the refusal logged (once per offer). A genuine
// change reaches this daemon through its own discovery: the TXT id changes,
// the resolver fetches the new policy and saves it to both tiers (§3.3, §5.1).
#include <memory>

#include "cache/store.hpp"

namespace mtasts::cache {

// Why `shared` must not replace `local` without our own fetch confirming it,
// or std::nullopt when it may (the rule above). An expired local policy
// protects nothing (§5.1): then it may.
std::optional<std::string> shared_downgrade(const CachedPolicy& local, const CachedPolicy& shared,
                                            std::int64_t now);

class TieredStore final : public PolicyStore {
 public:
  TieredStore(std::unique_ptr<PolicyStore> primary, std::unique_ptr<PolicyStore> secondary);

  std::string describe() const override;
  // Both tiers; for a domain in both, the more recently fetched policy wins,
  // unless it is a downgrade from the shared tier (see above).
  void load_all(const std::function<void(CachedPolicy)>& sink) override;
  // Primary first (another daemon may have learned it), then the local tier;
  // the same rule picks between them, and a primary record that wins is copied
  // to the local tier.
  void fetch(const std::string& domain,
             std::function<void(std::optional<CachedPolicy>)> done) override;
  void save(const CachedPolicy& policy) override;
  void remove(const std::string& domain) override;
  // DANE results tier the same way: both tiers at load (newest lookup wins),
  // primary first on a miss with the hit copied locally, writes to both; every
  // result checked.
  void load_all_dane(const std::function<void(CachedDane)>& sink) override;
  void fetch_dane(const std::string& destination,
                  std::function<void(std::optional<CachedDane>)> done) override;
  void save_dane(const CachedDane& dane) override;
  void flush() override;

  struct Common;  // what callbacks share with the store (they may outlive it)

 private:
  std::unique_ptr<PolicyStore> primary_;
  std::shared_ptr<PolicyStore> secondary_;  // shared: a pending fetch may outlive a swap
  std::shared_ptr<Common> common_;
};

}  // namespace mtasts::cache
