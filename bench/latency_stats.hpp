#pragma once
// Latency percentiles by nearest rank over every recorded sample (no
// histogram buckets: a 10 s run at 200 000 q/s is 16 MB of samples).
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

namespace mtasts::bench {

struct LatencySummary {
  double p50_us = 0;
  double p90_us = 0;
  double p99_us = 0;
  double p999_us = 0;
  double max_us = 0;
};

// Nearest-rank percentile of sorted samples: the smallest sample with at least
// q of all samples at or below it.
inline double percentile_us(const std::vector<std::uint64_t>& sorted_ns, double q) {
  if (sorted_ns.empty()) return 0;
  auto rank = static_cast<std::size_t>(std::ceil(q * static_cast<double>(sorted_ns.size())));
  rank = std::clamp<std::size_t>(rank, 1, sorted_ns.size());
  return static_cast<double>(sorted_ns[rank - 1]) / 1000.0;
}

// Sorts samples in place.
inline LatencySummary summarize(std::vector<std::uint64_t>& samples_ns) {
  std::sort(samples_ns.begin(), samples_ns.end());
  LatencySummary s;
  s.p50_us = percentile_us(samples_ns, 0.50);
  s.p90_us = percentile_us(samples_ns, 0.90);
  s.p99_us = percentile_us(samples_ns, 0.99);
  s.p999_us = percentile_us(samples_ns, 0.999);
  s.max_us = samples_ns.empty() ? 0 : static_cast<double>(samples_ns.back()) / 1000.0;
  return s;
}

}  // namespace mtasts::bench
