// One steady timer for a connection's many deadlines (reconnect back-off, connect
// and handshake limits, the oldest command's reply): after every state change the
// owner arms it with its next deadline. An earlier deadline re-arms it; a later one
// changes nothing, since the early wake-up finds nothing due and arms the next.
// Used by the Redis and PostgreSQL stores.
#pragma once

#include <chrono>
#include <memory>
#include <utility>

#include <boost/asio/error.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>

namespace mtasts::util {

class DeadlineTimer {
 public:
  using Clock = std::chrono::steady_clock;

  explicit DeadlineTimer(boost::asio::io_context& io) : timer_(io) {}

  // fire() runs at `deadline` unless an earlier arm() or cancel() came first, and
  // only while `alive` (the owner's lifetime token) does: a wake-up already queued
  // when the owner goes must not touch it.
  template <class Fire>
  void arm(Clock::time_point deadline, std::weak_ptr<int> alive, Fire fire) {
    if (armed_ && deadline_ <= deadline) return;
    armed_ = true;
    deadline_ = deadline;
    timer_.expires_at(deadline);
    timer_.async_wait([this, alive = std::move(alive),
                       fire = std::move(fire)](const boost::system::error_code& ec) mutable {
      if (alive.expired() || ec == boost::asio::error::operation_aborted) return;
      armed_ = false;
      fire();
    });
  }

  void cancel() {
    timer_.cancel();
    armed_ = false;
  }

 private:
  boost::asio::steady_timer timer_;
  bool armed_ = false;
  Clock::time_point deadline_{};
};

}  // namespace mtasts::util
