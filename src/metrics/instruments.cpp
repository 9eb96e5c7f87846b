#include "metrics/instruments.hpp"

#include <cmath>
#include <stdexcept>

namespace mtasts::metrics {

Histogram::Histogram(const std::vector<double>& bounds_seconds) : bounds_(bounds_seconds) {
  if (bounds_.empty()) throw std::invalid_argument("histogram: no bucket bounds");
  double previous = 0;
  for (const double bound : bounds_) {
    // Above 0 and increasing: a duration is never negative, and Prometheus
    // requires the `le` values of one series to grow.
    if (!std::isfinite(bound) || bound <= previous)
      throw std::invalid_argument("histogram: bounds must be finite, above 0 and increasing");
    previous = bound;
    bounds_ns_.push_back(std::llround(bound * 1e9));
  }
  buckets_ = std::make_unique<std::atomic<std::uint64_t>[]>(bounds_.size() + 1);
  for (std::size_t i = 0; i <= bounds_.size(); ++i) buckets_[i].store(0);
}

void Histogram::observe(std::chrono::nanoseconds duration) noexcept {
  const std::int64_t ns = duration.count() < 0 ? 0 : duration.count();
  // A dozen bounds: a linear scan beats a binary search's branches here.
  std::size_t i = 0;
  while (i < bounds_ns_.size() && ns > bounds_ns_[i]) ++i;
  buckets_[i].fetch_add(1, std::memory_order_relaxed);
  sum_ns_.fetch_add(static_cast<std::uint64_t>(ns), std::memory_order_relaxed);
}

Histogram::Snapshot Histogram::snapshot() const {
  Snapshot s;
  s.bounds = bounds_;
  s.le.reserve(bounds_.size() + 1);
  std::uint64_t running = 0;
  for (std::size_t i = 0; i <= bounds_.size(); ++i) {
    running += buckets_[i].load(std::memory_order_relaxed);
    s.le.push_back(running);
  }
  s.count = running;
  s.sum_seconds = static_cast<double>(sum_ns_.load(std::memory_order_relaxed)) / 1e9;
  return s;
}

}  // namespace mtasts::metrics
