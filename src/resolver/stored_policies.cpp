#include "resolver/stored_policies.hpp"

#include <spdlog/spdlog.h>

#include <utility>

namespace mtasts::resolver {

StoredPolicies::StoredPolicies(cache::PolicyStore* store, DomainCache& cache,
                               const util::Clock& clock, ResolverStats& stats)
    : store_(store),
      cache_(cache),
      clock_(clock),
      stats_(stats),
      alive_(std::make_shared<bool>(true)) {}

StoredPolicies::~StoredPolicies() { *alive_ = false; }

StoredPolicies::Loaded StoredPolicies::load() {
  Loaded loaded;
  if (store_ == nullptr) return loaded;
  const auto now = clock_.now();
  loaded.complete = store_->load_all([&](cache::CachedPolicy policy) {
    if (policy.expired(now)) return;
    cache_.store_policy(std::move(policy));
    ++loaded.stored;
  });
  // Beyond cache_size the least recently loaded stay in the store only, and a
  // query for them reads it (decisions.md: nothing learned is thrown away).
  loaded.in_memory = cache_.positive_count();
  return loaded;
}

bool StoredPolicies::adopt(cache::PolicyRead& stored, const std::string& domain) {
  auto& record = stored.record;
  if (!record || record->domain != domain || record->expired(clock_.now())) return false;
  ++stats_.store_hits;
  spdlog::debug("{}: policy id={} read from {}", domain, record->txt_id, store_->describe());
  cache_.store_policy(std::move(*record));
  return true;
}

void StoredPolicies::recall(const std::string& domain, std::function<void()> done) {
  if (store_ == nullptr || cache_.policy(domain, clock_.now()) != nullptr) return done();
  store_->fetch(domain,
                [this, alive = alive_, domain, done = std::move(done)](cache::PolicyRead stored) {
                  if (!*alive) return;
                  adopt(stored, domain);
                  done();
                });
}

void StoredPolicies::due_for_refresh(
    std::int64_t checked_before, std::int64_t expires_before, std::size_t limit,
    std::function<void(std::vector<DomainCache::RefreshCandidate>)> done) {
  if (store_ == nullptr) return done({});
  store_->due_for_refresh(
      clock_.now(), checked_before, expires_before, limit,
      [this, alive = alive_,
       done = std::move(done)](std::vector<cache::PolicyStore::RefreshDue> due) {
        std::vector<DomainCache::RefreshCandidate> out;
        if (!*alive) return done(std::move(out));
        const auto at = clock_.now();
        for (auto& row : due) {
          // In memory: memory's sweep decides (it knows the back-off).
          if (cache_.policy(row.domain, at) != nullptr) continue;
          out.push_back({std::move(row.domain),
                         row.expiring_or_aging ? std::string{} : std::move(row.txt_id)});
        }
        done(std::move(out));
      });
}

void StoredPolicies::only_in_store(std::size_t limit, Listed done) {
  if (store_ == nullptr) return done({});
  store_->list_policies(
      clock_.now(), limit,
      [this, alive = alive_, done = std::move(done)](std::vector<cache::CachedPolicy> stored) {
        if (!*alive) return done({});
        const auto at = clock_.now();
        std::erase_if(stored, [&](const cache::CachedPolicy& p) {
          return p.expired(at) || cache_.policy(p.domain, at) != nullptr;
        });
        done(std::move(stored));
      });
}

void StoredPolicies::all(std::size_t limit, Listed done) {
  if (store_ == nullptr) return done({});
  store_->list_policies(
      clock_.now(), limit,
      [this, alive = alive_, done = std::move(done)](std::vector<cache::CachedPolicy> stored) {
        if (!*alive) return done({});
        const auto at = clock_.now();
        std::erase_if(stored, [&](const cache::CachedPolicy& p) { return p.expired(at); });
        done(std::move(stored));
      });
}

}  // namespace mtasts::resolver
