#pragma once
// What every client stream a server accepts goes through, whatever it speaks:
// reads into one buffer, the end of the client's input, one timer for the
// connection's deadlines, the goodbye after a protocol error and closing once.
// socketmap::Connection (netstrings) and the daemon's control connection (lines)
// build their protocols on it; each keeps only its own framing, replies and rules
// for when a client has waited too long.
#include <array>
#include <chrono>
#include <cstddef>
#include <memory>
#include <string>
#include <string_view>

#include <boost/asio/steady_timer.hpp>
#include <boost/system/error_code.hpp>

#include "socketmap/listener.hpp"

namespace mtasts::socketmap {

class StreamConnection : public std::enable_shared_from_this<StreamConnection> {
 public:
  using Clock = std::chrono::steady_clock;

  virtual ~StreamConnection() = default;
  StreamConnection(const StreamConnection&) = delete;
  StreamConnection& operator=(const StreamConnection&) = delete;

  // Closes the socket now, once: the timer stops and on_closed(why) runs. What
  // completes later (a read, a reply) finds closed() and does nothing.
  void close(std::string_view why);
  bool closed() const { return closed_; }

 protected:
  using error_code = boost::system::error_code;

  explicit StreamConnection(Socket socket);

  Socket& socket() { return socket_; }

  // Reads once more, unless a read is pending, the client is done sending, or the
  // connection lingers or is closed. The bytes go to on_input (the last activity
  // moves to now), the client's end of input to on_end_of_input (peer_done()
  // from then on); an error closes.
  void read();
  bool reading() const { return reading_; }
  bool peer_done() const { return peer_done_; }

  // Deadlines count from the last activity: the accept (the constructor), a
  // read, a write finished.
  void touch() { last_activity_ = Clock::now(); }
  Clock::time_point last_activity() const { return last_activity_; }

  // on_deadline(now) runs at `at`, replacing the wake-up armed before. The
  // handler compares its deadlines with now, as in asio's timeouts example:
  // activity may have moved them since the timer was set.
  void arm_deadline(Clock::time_point at);
  Clock::time_point next_wake_up() const { return timer_.expiry(); }

  // After a protocol error the client may still be sending, and closing a socket
  // with unread input makes the kernel answer with a reset that can destroy the
  // error reply before the client reads it. So: stop sending, read and drop what
  // still comes (at most 1 MiB) until the client closes, for at most `limit`
  // (and never more than 2 s); then close(why). The replies must all be written.
  void linger(Clock::duration limit, std::string why);
  bool lingering() const { return lingering_; }

  // What the protocol on top does with each event.
  virtual void on_input(std::string_view bytes) = 0;
  virtual void on_end_of_input() = 0;
  // Not called while lingering: the goodbye has its own deadline.
  virtual void on_deadline(Clock::time_point now) = 0;
  virtual void on_closed(std::string_view why) = 0;

 private:
  void start_read();
  void on_read(const error_code& ec, std::size_t length);
  void on_timer(const error_code& ec);

  Socket socket_;
  boost::asio::steady_timer timer_;
  Clock::time_point last_activity_;
  Clock::time_point linger_deadline_;
  std::string linger_reason_;
  std::size_t discarded_ = 0;
  bool reading_ = false;
  bool peer_done_ = false;  // the client closed its sending side
  bool lingering_ = false;
  bool closed_ = false;
  // Postfix and mta-stsctl send short requests; pipelined bursts take several reads.
  std::array<char, 4096> read_buffer_;
};

}  // namespace mtasts::socketmap
