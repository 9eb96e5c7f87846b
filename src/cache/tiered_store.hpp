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
// The local record is kept and the refusal logged (once per offer). When the
// local tier cannot be read, the rule cannot be applied: only a shared enforce
// policy is answered, anything weaker reads as "cannot tell" (the resolver then
// answers TEMP rather than risk NOTFOUND, unless its own discovery succeeds). A genuine
// change reaches this daemon through its own discovery: the TXT id changes,
// the resolver fetches the new policy and saves it to both tiers (§3.3, §5.1).
#include <memory>

#include "cache/store.hpp"
#include "util/clock.hpp"

namespace mtasts::cache {

// Why `shared` must not replace `local` without our own fetch confirming it,
// or std::nullopt when it may (the rule above). An expired local policy
// protects nothing (§5.1): then it may.
std::optional<std::string> shared_downgrade(const CachedPolicy& local, const CachedPolicy& shared,
                                            std::int64_t now);

class TieredStore final : public PolicyStore {
 public:
  // clock: what records are checked against (the system clock unless a test
  // simulates time); it must outlive the store's pending fetches.
  TieredStore(std::unique_ptr<PolicyStore> primary, std::unique_ptr<PolicyStore> secondary,
              const util::Clock* clock = nullptr);

  std::string describe() const override;
  // Both tiers; for a domain in both, the more recently fetched policy wins,
  // unless it is a downgrade from the shared tier (see above).
  bool load_all(const std::function<void(CachedPolicy)>& sink) override;
  // Primary first (another daemon may have learned it), then the local tier;
  // the same rule picks between them, and a primary record that wins is copied
  // to the local tier.
  void fetch(const std::string& domain, std::function<void(PolicyRead)> done) override;
  void save(const CachedPolicy& policy) override;
  void remove(const std::string& domain) override;
  // DANE results tier the same way: both tiers at load (newest lookup wins),
  // primary first on a miss with the hit copied locally, writes to both; every
  // result checked.
  void load_all_dane(const std::function<void(CachedDane)>& sink) override;
  void fetch_dane(const std::string& destination, std::function<void(DaneRead)> done) override;
  void save_dane(const CachedDane& dane) override;
  // The local tier's: it holds every policy this daemon relies on, and each
  // daemon of a fleet refreshes its own.
  void due_for_refresh(std::int64_t now, std::int64_t checked_before, std::int64_t expires_before,
                       std::size_t limit,
                       std::function<void(std::vector<RefreshDue>)> done) override;
  // The local tier's (every policy this daemon relies on), and what only the
  // shared tier holds: policies other daemons of the fleet learned (PostgreSQL
  // lists them; Redis cannot and adds nothing). For a domain in both, fetch's
  // rule picks; every shared record is checked.
  void list_policies(std::int64_t now, std::size_t limit,
                     std::function<void(std::vector<CachedPolicy>)> done) override;
  // The local tier's, and what only the shared tier holds (PostgreSQL lists
  // it; Redis cannot): load_all_dane's rule, the newest lookup wins.
  void list_dane(std::int64_t now, std::size_t limit,
                 std::function<void(std::vector<CachedDane>)> done) override;
  // The local tier's (a count on the calling thread: the shared tier answers
  // only over the event loop).
  std::optional<Census> census(std::int64_t now, std::int64_t expiring_before) override;
  void confirm(const std::string& domain, const std::string& txt_id,
               std::int64_t checked_at) override;
  // The shared tier's, then the local tier's.
  std::vector<StoreErrorCounts> error_counts() const override;
  void flush() override;

  struct Common;  // what callbacks share with the store (they may outlive it)

 private:
  std::unique_ptr<PolicyStore> primary_;
  std::shared_ptr<PolicyStore> secondary_;  // shared: a pending fetch may outlive a swap
  std::shared_ptr<Common> common_;
};

}  // namespace mtasts::cache
