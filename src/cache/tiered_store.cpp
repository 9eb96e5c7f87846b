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

void TieredStore::load_all_dane(const std::function<void(CachedDane)>& sink) {
  std::unordered_map<std::string, CachedDane> merged;
  auto keep_newest = [&](CachedDane dane) {
    auto it = merged.find(dane.destination);
    if (it == merged.end()) {
      merged.emplace(dane.destination, std::move(dane));
    } else if (dane.fetched_at > it->second.fetched_at) {
      it->second = std::move(dane);
    }
  };
  secondary_->load_all_dane(keep_newest);
  primary_->load_all_dane(keep_newest);
  for (auto& [destination, dane] : merged) sink(std::move(dane));
}

void TieredStore::fetch_dane(const std::string& destination,
                             std::function<void(std::optional<CachedDane>)> done) {
  std::weak_ptr<PolicyStore> local = secondary_;
  primary_->fetch_dane(destination, [local, destination, done = std::move(done)](
                                        std::optional<CachedDane> found) mutable {
    auto secondary = local.lock();
    if (found) {
      // Kept locally too, as policies are: a restart while the primary is down
      // still has every DANE result this daemon answered with.
      if (secondary) secondary->save_dane(*found);
      return done(std::move(found));
    }
    if (!secondary) return done(std::nullopt);
    secondary->fetch_dane(destination, std::move(done));
  });
}

void TieredStore::save_dane(const CachedDane& dane) {
  primary_->save_dane(dane);
  secondary_->save_dane(dane);
}

void TieredStore::flush() {
  primary_->flush();
  secondary_->flush();
}

}  // namespace mtasts::cache
