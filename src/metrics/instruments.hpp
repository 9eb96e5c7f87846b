#pragma once
// The values a program updates on its hot paths: a counter, a gauge and a
// histogram of durations. Each is a few relaxed atomics: counting takes no lock
// and allocates nothing, and a scrape reads them without stopping the writers
// (the numbers are exact once writers pause; a scrape in between may see one
// bucket a step ahead of the count, which Prometheus tolerates).
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

namespace mtasts::metrics {

class Counter {
 public:
  void inc(std::uint64_t n = 1) noexcept { value_.fetch_add(n, std::memory_order_relaxed); }
  std::uint64_t value() const noexcept { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<std::uint64_t> value_{0};
};

class Gauge {
 public:
  void set(std::int64_t v) noexcept { value_.store(v, std::memory_order_relaxed); }
  void add(std::int64_t n) noexcept { value_.fetch_add(n, std::memory_order_relaxed); }
  std::int64_t value() const noexcept { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<std::int64_t> value_{0};
};

// Durations in fixed buckets. The bounds (upper, inclusive: Prometheus's `le`)
// are given in seconds and kept as nanoseconds, so observing is integer
// compares and two atomic adds; the sum is kept in nanoseconds for the same
// reason and turned into seconds only when exposed.
class Histogram {
 public:
  // bounds: finite, strictly increasing, above 0 (std::invalid_argument otherwise).
  explicit Histogram(const std::vector<double>& bounds_seconds);

  void observe(std::chrono::nanoseconds duration) noexcept;

  struct Snapshot {
    std::vector<double> bounds;     // seconds, without +Inf
    std::vector<std::uint64_t> le;  // cumulative counts per bound, then +Inf
    std::uint64_t count = 0;        // == le.back()
    double sum_seconds = 0;
  };
  Snapshot snapshot() const;
  const std::vector<double>& bounds() const { return bounds_; }

 private:
  std::vector<double> bounds_;
  std::vector<std::int64_t> bounds_ns_;
  // One slot per bound plus the +Inf bucket; not cumulative (cumulated at scrape).
  std::unique_ptr<std::atomic<std::uint64_t>[]> buckets_;
  std::atomic<std::uint64_t> sum_ns_{0};
};

}  // namespace mtasts::metrics
