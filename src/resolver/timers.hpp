#pragma once
// Monotonic time, timers and deferred work for the policy and DANE lifecycles.
// The lifecycle owns this seam so its rules (deadlines, back-off, queues) run in
// unit tests against ManualTimers, without sockets or sleeping; the daemon gives
// it AsioTimers on its io_context.
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <utility>
#include <vector>

#include <boost/asio/io_context.hpp>

namespace mtasts::resolver {

using MonoTime = std::chrono::steady_clock::time_point;

class Timers {
 public:
  using Id = std::uint64_t;  // 0 is never a timer
  virtual ~Timers() = default;
  virtual MonoTime now() const = 0;
  // Runs fn once at `when` unless cancelled first. Never runs fn synchronously.
  virtual Id at(MonoTime when, std::function<void()> fn) = 0;
  // Harmless for a timer that already ran or was cancelled.
  virtual void cancel(Id id) = 0;
  // Runs fn soon, after the caller returns (a result that is known at once must
  // still reach a caller that registers its waiter after asking).
  virtual void post(std::function<void()> fn) = 0;
};

// The daemon's timers: steady_timers on one io_context thread.
class AsioTimers final : public Timers {
 public:
  explicit AsioTimers(boost::asio::io_context& io);
  ~AsioTimers() override;
  AsioTimers(const AsioTimers&) = delete;
  AsioTimers& operator=(const AsioTimers&) = delete;

  MonoTime now() const override { return std::chrono::steady_clock::now(); }
  Id at(MonoTime when, std::function<void()> fn) override;
  void cancel(Id id) override;
  void post(std::function<void()> fn) override;
  std::size_t pending() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Time that moves only when a test says so. post()ed work runs in run_ready();
// advance() fires due timers in time order, running posted work after each.
class ManualTimers final : public Timers {
 public:
  explicit ManualTimers(MonoTime start = MonoTime{std::chrono::hours(1)}) : now_(start) {}
  MonoTime now() const override { return now_; }
  Id at(MonoTime when, std::function<void()> fn) override {
    const Id id = ++next_id_;
    timers_.emplace(std::make_pair(when, id), std::move(fn));
    return id;
  }
  void cancel(Id id) override {
    for (auto it = timers_.begin(); it != timers_.end(); ++it) {
      if (it->first.second == id) {
        timers_.erase(it);
        return;
      }
    }
  }
  void post(std::function<void()> fn) override { posted_.push_back(std::move(fn)); }

  // Runs posted work (and work it posts) until none is left; returns how much ran.
  std::size_t run_ready() {
    std::size_t ran = 0;
    while (!posted_.empty()) {
      auto batch = std::move(posted_);
      posted_.clear();
      for (auto& fn : batch) {
        fn();
        ++ran;
      }
    }
    return ran;
  }
  // Moves time forward by `by`, firing every timer due on the way.
  void advance(std::chrono::steady_clock::duration by) {
    const MonoTime until = now_ + by;
    run_ready();
    while (!timers_.empty() && timers_.begin()->first.first <= until) {
      auto it = timers_.begin();
      now_ = std::max(now_, it->first.first);
      auto fn = std::move(it->second);
      timers_.erase(it);
      fn();
      run_ready();
    }
    now_ = until;
  }
  std::size_t pending_timers() const { return timers_.size(); }
  std::size_t pending_posts() const { return posted_.size(); }

 private:
  MonoTime now_;
  Id next_id_ = 0;
  std::map<std::pair<MonoTime, Id>, std::function<void()>> timers_;
  std::vector<std::function<void()>> posted_;
};

}  // namespace mtasts::resolver
