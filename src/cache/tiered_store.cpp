#include "cache/tiered_store.hpp"

#include <unordered_map>

namespace mtasts::cache {

TieredStore::TieredStore(std::unique_ptr<PolicyStore> primary,
                         std::unique_ptr<PolicyStore> secondary)
    : primary_(std::move(primary)), secondary_(std::move(secondary)) {}

std::string TieredStore::describe() const {
  return primary_->describe() + " (local copy " + secondary_->describe() + ")";
}

void TieredStore::load_all(const std::function<void(CachedPolicy)>& sink) {
  std::unordered_map<std::string, CachedPolicy> merged;
  auto keep_newest = [&](CachedPolicy policy) {
    auto it = merged.find(policy.domain);
    if (it == merged.end()) {
      merged.emplace(policy.domain, std::move(policy));
    } else if (policy.fetched_at > it->second.fetched_at) {
      it->second = std::move(policy);
    }
  };
  secondary_->load_all(keep_newest);
  primary_->load_all(keep_newest);
  for (auto& [domain, policy] : merged) sink(std::move(policy));
}

void TieredStore::fetch(const std::string& domain,
                        std::function<void(std::optional<CachedPolicy>)> done) {
  std::weak_ptr<PolicyStore> local = secondary_;
  primary_->fetch(domain, [local, domain, done = std::move(done)](
                              std::optional<CachedPolicy> found) mutable {
    auto secondary = local.lock();
    if (found) {
      // A policy another daemon learned is kept locally too: a restart while the
      // primary is down must still have every policy this daemon answered with.
      if (secondary) secondary->save(*found);
      return done(std::move(found));
    }
    if (!secondary) return done(std::nullopt);
    secondary->fetch(domain, std::move(done));
  });
}

void TieredStore::save(const CachedPolicy& policy) {
  primary_->save(policy);
  secondary_->save(policy);
}

void TieredStore::remove(const std::string& domain) {
  primary_->remove(domain);
  secondary_->remove(domain);
}

void TieredStore::flush() {
  primary_->flush();
  secondary_->flush();
}

}  // namespace mtasts::cache
