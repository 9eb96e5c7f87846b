#pragma once
// Wall-clock seconds, injectable so lifecycle logic (expiry, grace, backoff) is
// tested by moving time instead of sleeping.
#include <cstdint>
#include <ctime>

namespace mtasts::util {

class Clock {
 public:
  virtual ~Clock() = default;
  virtual std::int64_t now() const = 0;  // seconds since the epoch
};

class SystemClock final : public Clock {
 public:
  std::int64_t now() const override { return static_cast<std::int64_t>(std::time(nullptr)); }
};

class ManualClock final : public Clock {
 public:
  explicit ManualClock(std::int64_t start = 1'700'000'000) : now_(start) {}
  std::int64_t now() const override { return now_; }
  void set(std::int64_t t) { now_ = t; }
  void advance(std::int64_t seconds) { now_ += seconds; }

 private:
  std::int64_t now_;
};

}  // namespace mtasts::util
