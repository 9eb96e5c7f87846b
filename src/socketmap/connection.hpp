#pragma once
// One client connection of the socketmap server: reads netstring requests, hands
// them to the RequestHandler, writes the replies back in request order.
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
#include "socketmap/stream_connection.hpp"

namespace mtasts::socketmap {

class Connection final : public StreamConnection {
 public:
  // listener names the listening socket (it outlives the connection: state owns it).
  Connection(std::shared_ptr<ServerState> state, Socket socket, const Endpoint& peer,
             const std::string& listener);
  ~Connection() override;

  // Registers with the server state and starts reading.
  void start();
  // Takes no more requests; closes once the pending replies are written.
  // (StreamConnection::close closes now: replies that arrive later are dropped.)
  void drain();

 private:
  // What happens once the last pending reply is written.
  enum class After { keep_reading, close, linger };

  std::shared_ptr<Connection> self();
  std::string peer_name() const;
  bool saturated() const;
  void read_next();
  void on_input(std::string_view bytes) override;
  void on_end_of_input() override;
  void on_deadline(Clock::time_point now) override;
  void on_closed(std::string_view why) override;
  void process_requests();
  void dispatch(const Request& request);
  void on_reply(ReplyQueue::Sequence seq, std::string_view payload);
  void protocol_error(std::string_view reason);
  void progress();
  void write();
  void on_write(const error_code& ec);
  void note_partial_request();
  void arm_write_timer(Clock::time_point at);
  void on_write_timer(const error_code& ec);

  std::shared_ptr<ServerState> state_;
  Endpoint peer_;
  const std::string& listener_;
  NetstringReader reader_;
  ReplyQueue replies_;
  std::string in_flight_;  // the bytes of the write in progress
  std::size_t in_flight_replies_ = 0;
  boost::asio::steady_timer write_timer_;
  // When the first byte of a request still incomplete arrived (max() when none
  // is): a whole request must arrive within request_timeout (slowloris).
  Clock::time_point partial_since_ = Clock::time_point::max();
  Clock::time_point write_deadline_;
  After after_ = After::keep_reading;
  bool writing_ = false;
  bool paused_ = false;           // too many requests in flight: reading waits for replies
  bool dispatching_ = false;      // inside process_requests: replies are batched into one write
  bool progress_posted_ = false;  // a late reply has scheduled progress()
  bool write_timer_armed_ = false;
};

}  // namespace mtasts::socketmap
