#pragma once
// The in-memory DANE cache: what DNSSEC said about each destination's MX hosts
// (RFC 7672), kept by DNS TTL apart from the MTA-STS policies. Pure logic:
// time is passed in. Bounded; beyond capacity the least recently used go,
// results saying "no DANE" before those that protect mail.
#include <cstddef>
#include <cstdint>
#include <list>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "cache/cached_dane.hpp"
#include "util/string_map.hpp"

namespace mtasts::resolver {

class DaneCache {
 public:
  explicit DaneCache(std::size_t capacity);

  struct Lookup {
    enum class Kind {
      fresh,    // an unexpired result: use `level`
      expired,  // a result past its TTL but within its stale window: look up again,
                // and use `level` only if that lookup fails
      stale,    // like expired, but a lookup failed recently: use `level`, no lookup now
      failed,   // nothing usable and a lookup failed recently: answer per on_failure
      miss,     // nothing known: look up
    };
    Kind kind = Kind::miss;
    dane::Level level = dane::Level::none;
    // fresh only: past three quarters of its TTL, refresh in the background so a
    // destination that keeps receiving mail never waits for an expired result.
    bool refresh_due = false;
  };
  Lookup lookup(std::string_view destination, std::int64_t now);

  // A definite result replaces whatever was there and clears failures.
  void store(cache::CachedDane result);
  // A lookup failed: no new attempt before retry_after; any result is kept.
  void record_failure(std::string_view destination, std::int64_t retry_after);
  bool erase(std::string_view destination);

  const cache::CachedDane* result(std::string_view destination) const;
  std::size_t size() const { return entries_.size(); }
  // Destinations with a result (size() also counts failed lookups awaiting retry).
  std::size_t result_count() const { return results_; }

  // Destinations whose DANE result protects mail (level dane or dane-only) and
  // expires within horizon seconds: the background sweep refreshes them.
  std::vector<std::string> refresh_candidates(std::int64_t now, std::int64_t horizon) const;

  template <typename F>
  void for_each_result(F&& f) const {
    for (const auto& [destination, entry] : entries_) {
      if (entry.result) f(*entry.result);
    }
  }

 private:
  struct Entry {
    std::optional<cache::CachedDane> result;
    std::int64_t retry_after = 0;
    std::list<const std::string*>::iterator lru;
    bool protective = false;  // in protective_lru_ (level dane or dane-only)
  };
  Entry& find_or_create(std::string_view destination);
  void place(Entry& entry, bool protective);
  void evict_if_needed();

  std::size_t capacity_;
  util::StringMap<Entry> entries_;
  std::list<const std::string*> protective_lru_;  // front = most recently used; keys of entries_
  std::list<const std::string*> other_lru_;
  std::size_t results_ = 0;
};

}  // namespace mtasts::resolver
