#include "resolver/dane_cache.hpp"

namespace mtasts::resolver {

DaneCache::DaneCache(std::size_t capacity) : capacity_(capacity == 0 ? 1 : capacity) {
  // Every query looks here first: buckets for the whole capacity up front keep
  // chains short and spare the hit path a rehash.
  entries_.reserve(capacity_ < 1'000'000 ? capacity_ : 1'000'000);
}

DaneCache::Entry& DaneCache::find_or_create(std::string_view destination) {
  auto it = entries_.find(destination);
  if (it != entries_.end()) return it->second;
  it = entries_.try_emplace(std::string(destination)).first;
  // Map nodes never move, so the LRU lists point at their keys, not copies.
  other_lru_.push_front(&it->first);
  it->second.lru = other_lru_.begin();
  evict_if_needed();
  return entries_.find(destination)->second;
}

void DaneCache::place(Entry& entry, bool protective) {
  auto& from = entry.protective ? protective_lru_ : other_lru_;
  auto& to = protective ? protective_lru_ : other_lru_;
  to.splice(to.begin(), from, entry.lru);
  entry.protective = protective;
}

void DaneCache::evict_if_needed() {
  while (entries_.size() > capacity_) {
    // Losing a "no DANE" result costs one lookup; losing a DANE result can let
    // a failing lookup decide the answer.
    auto& list = other_lru_.size() > 1 || protective_lru_.empty() ? other_lru_ : protective_lru_;
    if (list.empty()) return;
    auto victim = entries_.find(*list.back());
    list.pop_back();
    if (victim->second.result) --results_;
    entries_.erase(victim);
  }
}

DaneCache::Lookup DaneCache::lookup(std::string_view destination, std::int64_t now) {
  Lookup out;
  auto it = entries_.find(destination);
  if (it == entries_.end()) return out;
  auto& entry = it->second;
  const bool failing = now < entry.retry_after;
  if (entry.result && now < entry.result->keep_until) {
    const auto& r = *entry.result;
    place(entry, entry.protective);  // most recently used
    out.level = r.level;
    if (!r.expired(now)) {
      out.kind = Lookup::Kind::fresh;
      out.refresh_due = !failing && now >= r.fetched_at + (r.expires_at - r.fetched_at) * 3 / 4;
    } else {
      out.kind = failing ? Lookup::Kind::stale : Lookup::Kind::expired;
    }
    return out;
  }
  out.kind = failing ? Lookup::Kind::failed : Lookup::Kind::miss;
  return out;
}

void DaneCache::store(cache::CachedDane result) {
  auto& entry = find_or_create(result.destination);
  const bool protective = result.level != dane::Level::none;
  if (!entry.result) ++results_;
  entry.result = std::move(result);
  entry.retry_after = 0;
  place(entry, protective);
}

void DaneCache::record_failure(std::string_view destination, std::int64_t retry_after) {
  find_or_create(destination).retry_after = retry_after;
}

bool DaneCache::erase(std::string_view destination) {
  auto it = entries_.find(destination);
  if (it == entries_.end()) return false;
  (it->second.protective ? protective_lru_ : other_lru_).erase(it->second.lru);
  if (it->second.result) --results_;
  entries_.erase(it);
  return true;
}

const cache::CachedDane* DaneCache::result(std::string_view destination) const {
  auto it = entries_.find(destination);
  if (it == entries_.end() || !it->second.result) return nullptr;
  return &*it->second.result;
}

std::vector<std::string> DaneCache::refresh_candidates(std::int64_t now,
                                                       std::int64_t horizon) const {
  std::vector<std::string> out;
  for (const auto& [destination, entry] : entries_) {
    if (!entry.result || !entry.protective || now < entry.retry_after) continue;
    if (entry.result->expires_at - now <= horizon && now < entry.result->keep_until) {
      out.push_back(destination);
    }
  }
  return out;
}

}  // namespace mtasts::resolver
