#pragma once
// Lets one warning through per interval and counts the ones held back, so a flood
// of refused connections or failing accepts cannot flood the log.
#include <chrono>
#include <cstddef>
#include <utility>

namespace mtasts::socketmap {

class WarningLimiter {
 public:
  explicit WarningLimiter(std::chrono::steady_clock::duration interval) : interval_(interval) {}

  // True when a warning may be logged now; suppressed is how many were held back since.
  bool allow(std::size_t& suppressed) {
    const auto now = std::chrono::steady_clock::now();
    if (now < next_) {
      ++suppressed_;
      return false;
    }
    next_ = now + interval_;
    suppressed = std::exchange(suppressed_, 0);
    return true;
  }

 private:
  std::chrono::steady_clock::duration interval_;
  std::chrono::steady_clock::time_point next_{};
  std::size_t suppressed_ = 0;
};

}  // namespace mtasts::socketmap
