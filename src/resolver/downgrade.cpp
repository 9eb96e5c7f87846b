#include "resolver/downgrade.hpp"

#include <algorithm>

#include <fmt/format.h>
#include <fmt/ranges.h>

namespace mtasts::resolver {

namespace {
constexpr std::uint32_t kShortMaxAge = 7 * 86400;
}

std::string weakening(const sts::Policy& before, const sts::Policy& after) {
  if (before.mode != sts::Mode::enforce) return {};
  std::vector<std::string> why;
  if (after.mode != sts::Mode::enforce) {
    why.push_back(fmt::format("mode enforce -> {}", sts::to_string(after.mode)));
  } else {
    std::vector<std::string> dropped;
    for (const auto& pattern : before.mx) {
      if (std::find(after.mx.begin(), after.mx.end(), pattern) == after.mx.end()) {
        dropped.push_back(pattern);
      }
    }
    if (!dropped.empty()) why.push_back(fmt::format("mx dropped: {}", fmt::join(dropped, ", ")));
  }
  if (after.max_age < before.max_age / 2 && after.max_age < kShortMaxAge) {
    why.push_back(fmt::format("max_age {} -> {}", before.max_age, after.max_age));
  }
  return fmt::format("{}", fmt::join(why, "; "));
}

std::uint32_t expiry_stage(const AlarmSettings& settings, std::int64_t left) {
  auto margins = settings.expiry_margins;
  std::sort(margins.begin(), margins.end(), std::greater<>());
  std::uint32_t stage = 0;
  for (std::size_t i = 0; i < margins.size(); ++i) {
    if (left <= static_cast<std::int64_t>(margins[i])) stage = static_cast<std::uint32_t>(i + 1);
  }
  return stage;
}

std::string describe_expiry(std::int64_t expires_at, std::int64_t now) {
  const auto left = expires_at - now;
  if (left >= 86400) return std::to_string(left / 86400) + "d";
  if (left >= 3600) return std::to_string(left / 3600) + "h";
  return std::to_string(left) + "s";
}

}  // namespace mtasts::resolver
