#include "resolver/refresher.hpp"

#include <algorithm>

#include <spdlog/spdlog.h>

namespace mtasts::resolver {

Refresher::Refresher(Timers& timers, const util::Clock& clock, PolicyResolver& policies,
                     std::uint32_t seed)
    : timers_(timers),
      clock_(clock),
      policies_(policies),
      random_(seed),
      alive_(std::make_shared<bool>(true)) {
  policies_.on_slot_freed([this, alive = alive_] {
    if (*alive) pump();
  });
}

Refresher::~Refresher() {
  *alive_ = false;
  policies_.on_slot_freed({});
  timers_.cancel(sweep_timer_);
  timers_.cancel(dane_timer_);
}

void Refresher::start(ProactiveSettings settings) {
  settings_ = settings;
  // DANE results follow DNS TTLs, not proactive_policy_fetching: always kept fresh.
  if (policies_.dane() != nullptr && dane_timer_ == 0) arm_dane_sweep();
  if (!settings_.enabled) return;
  if (settings_.interval == 0) settings_.interval = 1;
  if (settings_.grace_ratio < 1.0) settings_.grace_ratio = 1.0;
  if (settings_.concurrency_limit == 0) settings_.concurrency_limit = 1;
  // The first sweep comes soon after start-up (policies loaded from a store may
  // be due), spread so a fleet restarted together does not sweep in step.
  std::uniform_int_distribution<int> jitter(0, 30);
  arm_sweep(
      std::chrono::seconds(std::min<std::uint32_t>(settings_.interval, 10) + jitter(random_)));
}

void Refresher::reconfigure(ProactiveSettings settings) {
  timers_.cancel(sweep_timer_);
  sweep_timer_ = 0;
  settings_ = settings;
  if (!settings_.enabled) return;
  if (settings_.interval == 0) settings_.interval = 1;
  if (settings_.grace_ratio < 1.0) settings_.grace_ratio = 1.0;
  if (settings_.concurrency_limit == 0) settings_.concurrency_limit = 1;
  arm_sweep(std::chrono::seconds(std::min<std::uint32_t>(settings_.interval, 3600)));
}

void Refresher::arm_dane_sweep() {
  // DANE results live for DNS TTLs (minutes), far shorter than policies: those
  // that protect mail are looked up again before they expire.
  const auto period = std::max<std::uint32_t>(policies_.dane()->settings().min_ttl / 2, 30);
  dane_timer_ = timers_.at(timers_.now() + std::chrono::seconds(period), [this, period] {
    const auto started = policies_.dane()->sweep(2 * static_cast<std::int64_t>(period));
    if (started > 0) spdlog::debug("proactive refresh: {} DANE results due", started);
    arm_dane_sweep();
  });
}

void Refresher::arm_sweep(std::chrono::seconds delay) {
  sweep_timer_ = timers_.at(timers_.now() + delay, [this] {
    sweep();
    // Sweeps run at least hourly so a policy whose max_age is shorter than
    // `interval` is still refreshed before it expires.
    arm_sweep(std::chrono::seconds(std::min<std::uint32_t>(settings_.interval, 3600)));
  });
}

std::size_t Refresher::sweep() {
  const auto now = clock_.now();
  const auto period = static_cast<std::int64_t>(std::min<std::uint32_t>(settings_.interval, 3600));
  const auto min_age =
      static_cast<std::int64_t>(static_cast<double>(settings_.interval) / settings_.grace_ratio);
  auto due = policies_.cache().refresh_candidates(now, min_age, 2 * period);
  // Random order: no domain always waits behind the same others.
  std::shuffle(due.begin(), due.end(), random_);
  for (auto& candidate : due) queue_.push_back(std::move(candidate));
  if (!due.empty()) {
    spdlog::info("proactive refresh: {} cached policies due, {} in the queue", due.size(),
                 queue_.size());
  }
  pump();
  // Then what only the store holds (issue 16: memory is not the whole cache).
  // Bounded per sweep; the next sweep takes the rest.
  policies_.stored().due_for_refresh(
      now - min_age, now + 2 * period, kMaxStoredPerSweep,
      [this, alive = alive_](std::vector<DomainCache::RefreshCandidate> stored) {
        if (!*alive || stored.empty()) return;
        std::shuffle(stored.begin(), stored.end(), random_);
        for (auto& candidate : stored) queue_.push_back(std::move(candidate));
        spdlog::info(
            "proactive refresh: {} policies due that only the store holds, {} "
            "in the queue",
            stored.size(), queue_.size());
        pump();
      });
  return due.size();
}

void Refresher::pump() {
  while (!queue_.empty() && running_ < settings_.concurrency_limit && policies_.slot_free()) {
    auto candidate = std::move(queue_.front());
    queue_.pop_front();
    // Already being refreshed (or looked up for a query): nothing to add.
    if (!policies_.refresh(candidate.domain, std::move(candidate.known_id), [this, alive = alive_] {
          if (*alive && running_ > 0) --running_;
        })) {
      continue;
    }
    ++running_;
  }
}

}  // namespace mtasts::resolver
