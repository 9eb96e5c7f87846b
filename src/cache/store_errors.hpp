#pragma once
// What a store backend could not do, counted for the metrics
// (mtastsd_store_errors_total by backend and operation; issue 14). A read error
// is a lookup or a listing the store could not answer (down, a read error, no
// reply in time): the resolver then cannot tell whether the domain has a
// policy. A write error is a write that did not reach the store: a failed
// transaction (it is retried), a write the server refused, or one dropped
// because too many were waiting.
#include <atomic>
#include <cstdint>
#include <string>

namespace mtasts::cache {

struct StoreErrorCounts {
  std::string backend;  // "sqlite", "redis"
  std::uint64_t reads = 0;
  std::uint64_t writes = 0;
};

// Bumped by the event loop or a store's writer thread, read at scrape time:
// relaxed atomics, no lock on any path.
class StoreErrorCounters {
 public:
  void read() noexcept { reads_.fetch_add(1, std::memory_order_relaxed); }
  void write() noexcept { writes_.fetch_add(1, std::memory_order_relaxed); }
  StoreErrorCounts snapshot(std::string backend) const {
    return {std::move(backend), reads_.load(std::memory_order_relaxed),
            writes_.load(std::memory_order_relaxed)};
  }

 private:
  std::atomic<std::uint64_t> reads_{0};
  std::atomic<std::uint64_t> writes_{0};
};

}  // namespace mtasts::cache
