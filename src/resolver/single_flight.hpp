#pragma once
// Single flight with deadlines and bounded work, shared by the policy and the
// DANE lifecycles: one flight per key however many queries ask; each query
// waits until its own deadline (the flight carries on and its result serves the
// next query); at most max_running flights use the network at once and at most
// max_queued wait for a slot, so a flood of cold keys cannot queue without bound.
//
// A flight has two phases: opened (e.g. reading the store, no slot used) and
// admitted (holding a network slot or queued for one). finish() ends it either way.
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "resolver/timers.hpp"
#include "util/string_map.hpp"

namespace mtasts::resolver {

struct FlightLimits {
  std::size_t max_running = 256;
  std::size_t max_queued = 4096;
};

template <typename Result>
class SingleFlight {
 public:
  // Runs once: with the flight's result, or with nullptr when the deadline came first.
  using Waiter = std::function<void(const Result*)>;
  enum class Admission { running, queued, refused };

  SingleFlight(Timers& timers, FlightLimits limits) : timers_(timers), limits_(limits) {
    if (limits_.max_running == 0) limits_.max_running = 1;
  }
  ~SingleFlight() {
    for (auto& [key, flight] : flights_) {
      for (auto& w : flight->waiters) timers_.cancel(w.timer);
    }
  }
  SingleFlight(const SingleFlight&) = delete;
  SingleFlight& operator=(const SingleFlight&) = delete;

  bool active(std::string_view key) const { return flights_.find(key) != flights_.end(); }
  std::size_t size() const { return flights_.size(); }
  std::size_t running() const { return running_; }
  std::size_t queued() const { return queue_.size(); }
  const FlightLimits& limits() const { return limits_; }
  // A reload: raised limits start queued work at once; lowered ones let the
  // running flights finish and hold new ones back until below the limit. The
  // queue keeps what it holds beyond a lowered max_queued (nothing is dropped).
  void set_limits(FlightLimits limits) {
    limits_ = limits;
    if (limits_.max_running == 0) limits_.max_running = 1;
    start_queued();
  }
  bool slot_free() const { return running_ < limits_.max_running; }
  // No slot and no room in the queue: admit() would refuse.
  bool saturated() const {
    return running_ >= limits_.max_running && queue_.size() >= limits_.max_queued;
  }

  // Opens the key's flight; false when one is already open (join it with wait()).
  bool open(const std::string& key) {
    return flights_.emplace(key, std::make_unique<Flight>()).second;
  }

  // Adds a waiter to the open flight of key (no-op when none is open: the caller
  // opens first). At `deadline` the waiter is called with nullptr.
  void wait(std::string_view key, MonoTime deadline, Waiter waiter) {
    auto it = flights_.find(key);
    if (it == flights_.end()) return;
    const std::uint64_t id = ++next_waiter_;
    auto timer = timers_.at(deadline, [this, key = std::string(key), id] { expire(key, id); });
    it->second->waiters.push_back({id, timer, std::move(waiter)});
  }

  // Runs fn when the key's flight finishes (after its waiters are answered).
  void on_finish(std::string_view key, std::function<void()> fn) {
    auto it = flights_.find(key);
    if (it != flights_.end()) it->second->finished.push_back(std::move(fn));
  }

  // The flight's bounded step: work runs (posted) when a slot is free, waits in
  // the queue when there is room, else the caller is told to give up.
  Admission admit(std::string_view key, std::function<void()> work) {
    auto it = flights_.find(key);
    if (it == flights_.end() || it->second->admitted) return Admission::refused;
    if (running_ < limits_.max_running) {
      start(*it->second, std::move(work));
      return Admission::running;
    }
    if (queue_.size() < limits_.max_queued) {
      it->second->admitted = true;
      queue_.push_back({std::string(key), std::move(work)});
      return Admission::queued;
    }
    return Admission::refused;
  }

  // Ends the key's flight: its slot is released, every waiter not yet answered
  // gets the result once, queued work starts. Waiters may open new flights.
  void finish(std::string_view key, const Result& result) {
    auto it = flights_.find(key);
    if (it == flights_.end()) return;
    auto flight = std::move(it->second);
    flights_.erase(it);
    if (flight->holds_slot && running_ > 0) --running_;
    for (auto& w : flight->waiters) {
      timers_.cancel(w.timer);
      auto callback = std::move(w.callback);
      callback(&result);
    }
    for (auto& fn : flight->finished) fn();
    start_queued();
    if (flight->holds_slot && slot_listener_) slot_listener_();
  }

  // Answers the waiters the key's flight has now, leaving the flight running
  // (something else learned the answer first, e.g. the store during a refresh).
  void answer_waiters(std::string_view key, const Result& result) {
    auto it = flights_.find(key);
    if (it == flights_.end()) return;
    auto waiters = std::move(it->second->waiters);
    it->second->waiters.clear();
    for (auto& w : waiters) {
      timers_.cancel(w.timer);
      auto callback = std::move(w.callback);
      callback(&result);
    }
  }

  // Told whenever a flight gives its slot back (background work waits for one).
  void on_slot_freed(std::function<void()> fn) { slot_listener_ = std::move(fn); }

 private:
  struct WaiterEntry {
    std::uint64_t id;
    Timers::Id timer;
    Waiter callback;
  };
  struct Flight {
    std::vector<WaiterEntry> waiters;
    std::vector<std::function<void()>> finished;
    bool admitted = false;
    bool holds_slot = false;
  };
  struct Queued {
    std::string key;
    std::function<void()> work;
  };

  void start(Flight& flight, std::function<void()> work) {
    flight.admitted = true;
    flight.holds_slot = true;
    ++running_;
    // Posted: work whose result is known at once still completes after the
    // caller finished registering its waiters.
    timers_.post(std::move(work));
  }

  void start_queued() {
    while (running_ < limits_.max_running && !queue_.empty()) {
      auto next = std::move(queue_.front());
      queue_.pop_front();
      auto it = flights_.find(next.key);
      // Its waiters may all have timed out; the result still serves the next query.
      if (it != flights_.end()) start(*it->second, std::move(next.work));
    }
  }

  void expire(const std::string& key, std::uint64_t id) {
    auto it = flights_.find(key);
    if (it == flights_.end()) return;
    auto& waiters = it->second->waiters;
    for (auto w = waiters.begin(); w != waiters.end(); ++w) {
      if (w->id != id) continue;
      auto callback = std::move(w->callback);
      waiters.erase(w);
      callback(nullptr);
      return;
    }
  }

  Timers& timers_;
  FlightLimits limits_;
  util::StringMap<std::unique_ptr<Flight>> flights_;
  std::deque<Queued> queue_;
  std::size_t running_ = 0;
  std::uint64_t next_waiter_ = 0;
  std::function<void()> slot_listener_;
};

}  // namespace mtasts::resolver
