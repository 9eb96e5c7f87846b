#pragma once
// The background sweeps: cached policies are re-checked before they expire, so
// none lapses merely because no mail went to its domain for a while
// (proactive_policy_fetching, postfix-mta-sts-resolver's keys; RFC 8461 §3.3,
// §10.2), and DANE results that protect mail are looked up again before their
// DNS TTL ends. Background work only takes free discovery slots, never queues
// ahead of queries, and stays within its own concurrency limit.
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <random>

#include "resolver/dane_resolver.hpp"
#include "resolver/domain_cache.hpp"
#include "resolver/policy_resolver.hpp"
#include "resolver/timers.hpp"
#include "util/clock.hpp"

namespace mtasts::resolver {

struct ProactiveSettings {
  bool enabled = true;
  std::uint32_t interval = 86400;       // s: a policy is re-checked once it is this old /
  double grace_ratio = 2.0;             //    grace_ratio since its last check
  std::size_t concurrency_limit = 100;  // background discoveries at once
};

class Refresher {
 public:
  Refresher(Timers& timers, const util::Clock& clock, PolicyResolver& policies,
            std::uint32_t seed = std::random_device{}());
  ~Refresher();
  Refresher(const Refresher&) = delete;
  Refresher& operator=(const Refresher&) = delete;

  // Arms the sweep timers (the policy sweep only when enabled).
  void start(ProactiveSettings settings);
  // A configuration reload: the policy sweep follows the new settings (its
  // next run one interval from now, or none when disabled).
  void reconfigure(ProactiveSettings settings);
  // Policies only the store holds taken per sweep, at most.
  static constexpr std::size_t kMaxStoredPerSweep = 1000;
  // One policy sweep now; returns how many domains of memory it queued (those
  // only the store holds follow when the store answers).
  std::size_t sweep();
  std::size_t queued() const { return queue_.size(); }
  std::size_t running() const { return running_; }

 private:
  void pump();
  void arm_sweep(std::chrono::seconds delay);
  void arm_dane_sweep();

  Timers& timers_;
  const util::Clock& clock_;
  PolicyResolver& policies_;
  ProactiveSettings settings_;
  std::mt19937 random_;
  std::deque<DomainCache::RefreshCandidate> queue_;
  std::size_t running_ = 0;
  Timers::Id sweep_timer_ = 0;
  Timers::Id dane_timer_ = 0;
  std::shared_ptr<bool> alive_;
};

}  // namespace mtasts::resolver
