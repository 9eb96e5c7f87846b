#include "resolver/store_first.hpp"

namespace mtasts::resolver {

void StoreFirst::begin_cold(const std::string& domain, Discover discover) {
  if (store_ == nullptr) return discover({});
  store_->fetch(domain, [this, alive = alive_, domain,
                         discover = std::move(discover)](cache::PolicyRead stored) {
    if (!*alive) return;
    if (stored.unknown()) mark_unknown(domain, stored.failure);
    if (!stored_.adopt(stored, domain)) return discover(std::move(stored.failure));
    DiscoveryResult from_store;
    from_store.reason = "policy from " + store_->describe();
    flights_.finish(domain, from_store);
  });
}

void StoreFirst::joined(const std::string& domain) {
  if (auto it = unknown_.find(domain); it != unknown_.end()) {
    // The flight began while the store could not answer; it may answer now.
    return reread(domain, it->second);
  }
  if (store_ == nullptr || refreshing_.find(domain) == refreshing_.end()) return;
  // The flight is a refresh of a policy memory has dropped since (cache_size):
  // the store still has it until max_age; waiting on the network instead would
  // answer NOTFOUND if the policy host hangs.
  store_->fetch(domain, [this, alive = alive_, domain](cache::PolicyRead stored) {
    if (!*alive || !flights_.active(domain)) return;
    if (stored.unknown()) return mark_unknown(domain, stored.failure);
    if (!stored_.adopt(stored, domain)) return;
    answer_waiters(domain, "refresh continues");
  });
}

const std::string* StoreFirst::unknown(const std::string& domain) const {
  const auto it = unknown_.find(domain);
  return it == unknown_.end() ? nullptr : &it->second.failure;
}

void StoreFirst::mark_unknown(const std::string& domain, const std::string& failure) {
  ++stats_.store_unknown;
  // Until the flight ends, a waiter whose deadline passes answers TEMP.
  if (unknown_.emplace(domain, Unknown{failure}).second) {
    flights_.on_finish(domain, [this, domain] { unknown_.erase(domain); });
  }
}

void StoreFirst::reread(const std::string& domain, Unknown& unknown) {
  if (unknown.rereading) return;  // one read at a time, however many queries join
  unknown.rereading = true;
  store_->fetch(domain, [this, alive = alive_, domain](cache::PolicyRead stored) {
    if (!*alive) return;
    auto it = unknown_.find(domain);
    if (it == unknown_.end()) return;  // the flight ended meanwhile
    it->second.rereading = false;
    if (stored.unknown()) return;
    unknown_.erase(it);  // the store answers: its answer stands
    if (!stored_.adopt(stored, domain)) return;
    // The flight is now a refresh of a stored policy: should memory drop it
    // again (cache_size), later queries read the store, as for any refresh.
    begin_refresh(domain);
    answer_waiters(domain, "discovery continues");
  });
}

void StoreFirst::begin_refresh(const std::string& domain) {
  if (refreshing_.emplace(domain, true).second) {
    flights_.on_finish(domain, [this, domain] { refreshing_.erase(domain); });
  }
}

void StoreFirst::answer_waiters(const std::string& domain, std::string_view what) {
  DiscoveryResult from_store;
  from_store.reason = "policy from " + store_->describe() + "; " + std::string{what};
  flights_.answer_waiters(domain, from_store);
}

}  // namespace mtasts::resolver
