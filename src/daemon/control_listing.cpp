#include "daemon/control_listing.hpp"

#include <algorithm>
#include <unordered_set>
#include <utility>

#include "control/protocol.hpp"
#include "control/transfer.hpp"

namespace mtasts::daemon {

void PolicyListing::begin(Kind kind, const resolver::PolicyResolver& policies,
                          std::vector<cache::CachedPolicy> stored,
                          std::vector<cache::CachedDane> stored_dane, std::int64_t now,
                          std::string& output) {
  kind_ = kind;
  domains_.clear();
  domains_.reserve(policies.cache().positive_count());
  const bool exporting = kind_ == Kind::export_lines;
  const auto by_domain = [](const cache::CachedPolicy& p, const std::string& d) {
    return p.domain < d;
  };
  if (exporting) {
    std::sort(stored.begin(), stored.end(),
              [](const auto& a, const auto& b) { return a.domain < b.domain; });
  }
  // Expired policies no longer answer (RFC 8461 §5.1): they are not listed.
  policies.cache().for_each_policy([&](const cache::CachedPolicy& p) {
    if (p.expired(now)) return;
    if (exporting) {
      // Written from the store's record (below), which has the text.
      const auto it = std::lower_bound(stored.begin(), stored.end(), p.domain, by_domain);
      if (it != stored.end() && it->domain == p.domain) return;
    }
    domains_.push_back(p.domain);
  });
  stored_ = std::move(stored);
  stored_dane_ = std::move(stored_dane);
  next_ = 0;
  first_ = true;
  dane_.clear();
  if (!exporting) {
    output = "{\"policies\":[";
    return;
  }
  // Results past keep_until answer nothing any more: not exported. Memory's,
  // then those only the store holds (or holds newer than memory).
  if (const auto* dane = policies.dane()) {
    std::erase_if(stored_dane_, [&](const cache::CachedDane& d) {
      const auto* held = dane->cache().result(d.destination);
      return held != nullptr && held->usable_when_failing(now) && held->fetched_at >= d.fetched_at;
    });
    std::unordered_set<std::string_view> newer_in_store;
    for (const auto& d : stored_dane_) newer_in_store.insert(d.destination);
    dane->cache().for_each_result([&](const cache::CachedDane& d) {
      if (d.usable_when_failing(now) && newer_in_store.count(d.destination) == 0) {
        dane_.push_back(d.destination);
      }
    });
  }
  output = control::export_header_line(now) + "\n";
}

void PolicyListing::add(const cache::CachedPolicy& p, std::string_view source,
                        std::string& output) {
  if (kind_ == Kind::export_lines) {
    output += control::policy_line(p) + "\n";
    return;
  }
  if (!first_) output += ',';
  first_ = false;
  output += control::policy_json(p, source);
}

bool PolicyListing::fill(const resolver::PolicyResolver& policies, std::int64_t now,
                         std::size_t chunk_bytes, std::string& output) {
  const std::size_t policy_total = domains_.size() + stored_.size();
  const std::size_t dane_total = policy_total + dane_.size();
  const std::size_t total = dane_total + stored_dane_.size();
  while (output.size() < chunk_bytes && next_ < total) {
    const std::size_t i = next_++;
    if (i < domains_.size()) {
      const cache::CachedPolicy* p = policies.cache().policy(domains_[i], now);
      if (p != nullptr) add(*p, "memory", output);
      continue;
    }
    if (i < policy_total) {
      auto& stored = stored_[i - domains_.size()];
      if (stored.expired(now)) continue;
      const auto* held =
          kind_ == Kind::export_lines ? policies.cache().policy(stored.domain, now) : nullptr;
      if (held != nullptr && held->fetched_at > stored.fetched_at) {
        add(*held, "memory", output);  // a save the store did not keep (yet)
        continue;
      }
      // Memory's refresh confirmed the id since the store's last write.
      if (held != nullptr) stored.checked_at = std::max(stored.checked_at, held->checked_at);
      add(stored, "store", output);
      continue;
    }
    if (i < dane_total) {
      const auto* dane = policies.dane();
      const auto* d = dane ? dane->cache().result(dane_[i - policy_total]) : nullptr;
      if (d != nullptr && d->usable_when_failing(now)) output += control::dane_line(*d) + "\n";
      continue;
    }
    const auto& stored = stored_dane_[i - dane_total];
    if (stored.usable_when_failing(now)) output += control::dane_line(stored) + "\n";
  }
  if (next_ < total) return false;
  if (kind_ == Kind::export_lines) {
    output += "\n";
  } else {
    // The list's closing part; the policies were written one by one above.
    output += "],\"negative\":" + std::to_string(policies.cache().negative_count()) + "}\n";
  }
  release();
  return true;
}

void PolicyListing::release() {
  std::vector<std::string>().swap(domains_);
  std::vector<cache::CachedPolicy>().swap(stored_);
  std::vector<std::string>().swap(dane_);
  std::vector<cache::CachedDane>().swap(stored_dane_);
}

}  // namespace mtasts::daemon
