#pragma once
// One client connection of the socketmap server: reads netstring requests, hands
// them to the RequestHandler, writes the replies back in request order.
#include <array>
#include <chrono>
#include <cstddef>
#include <memory>
#include <string>
#include <string_view>

#include <boost/asio/steady_timer.hpp>
#include <boost/system/error_code.hpp>

#include "socketmap/listener.hpp"
#include "socketmap/netstring.hpp"
#include "socketmap/reply_queue.hpp"
#include "socketmap/server_state.hpp"

namespace mtasts::socketmap {

class Connection : public std::enable_shared_from_this<Connection> {
 public:
  // listener names the listening socket (it outlives the connection: state owns it).
  Connection(std::shared_ptr<ServerState> state, Socket socket, const Endpoint& peer,
             const std::string& listener);
  ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  // Registers with the server state and starts reading.
  void start();
  // Takes no more requests; closes once the pending replies are written.
  void drain();
  // Closes the socket now; replies that arrive later are dropped.
  void close(std::string_view why);

 private:
  using Clock = std::chrono::steady_clock;
  using error_code = boost::system::error_code;
  // What happens once the last pending reply is written.
  enum class After { keep_reading, close, linger };

  std::string peer_name() const;
  bool saturated() const;
  void read();
  void on_read(const error_code& ec, std::size_t length);
  void process_requests();
  void dispatch(const Request& request);
  void on_reply(ReplyQueue::Sequence seq, std::string_view payload);
  void protocol_error(std::string_view reason);
  void progress();
  void write();
  void on_write(const error_code& ec);
  void linger();
  void discard();
  void arm_idle_timer(Clock::time_point at);
  void note_partial_request();
  void on_idle_timer(const error_code& ec);
  void arm_write_timer(Clock::time_point at);
  void on_write_timer(const error_code& ec);

  std::shared_ptr<ServerState> state_;
  Socket socket_;
  Endpoint peer_;
  const std::string& listener_;
  NetstringReader reader_;
  ReplyQueue replies_;
  std::string in_flight_;  // the bytes of the write in progress
  std::size_t in_flight_replies_ = 0;
  boost::asio::steady_timer idle_timer_;
  boost::asio::steady_timer write_timer_;
  Clock::time_point last_activity_;
  // When the first byte of a request still incomplete arrived (max() when none
  // is): a whole request must arrive within request_timeout (slowloris).
  Clock::time_point partial_since_ = Clock::time_point::max();
  Clock::time_point write_deadline_;
  Clock::time_point linger_deadline_;
  std::size_t discarded_ = 0;
  After after_ = After::keep_reading;
  bool reading_ = false;
  bool writing_ = false;
  bool peer_done_ = false;        // the client closed its sending side
  bool paused_ = false;           // too many requests in flight: reading waits for replies
  bool dispatching_ = false;      // inside process_requests: replies are batched into one write
  bool progress_posted_ = false;  // a late reply has scheduled progress()
  bool write_timer_armed_ = false;
  bool lingering_ = false;
  bool closed_ = false;
  // Postfix sends one short request at a time; pipelined bursts take several reads.
  std::array<char, 4096> read_buffer_;
};

}  // namespace mtasts::socketmap
