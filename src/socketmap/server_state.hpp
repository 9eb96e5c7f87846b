#pragma once
// What the server's accept loops and its connections share. Every connection and
// pending accept holds it by shared_ptr, so a late completion (a reply after a
// close, an accept after ~Server) always finds it alive.
#include <chrono>
#include <cstddef>
#include <memory>
#include <string_view>
#include <unordered_set>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>

#include "socketmap/listener.hpp"
#include "socketmap/server.hpp"

namespace mtasts::socketmap {

class Connection;

struct Listener {
  explicit Listener(BoundAcceptor bound_acceptor);
  BoundAcceptor bound;
  Endpoint peer;                    // filled by the accept in progress
  boost::asio::steady_timer retry;  // backs off after errors such as EMFILE
};

// Lets one warning through per interval and counts the ones held back, so a flood
// of refused connections cannot flood the log.
class WarningLimiter {
 public:
  explicit WarningLimiter(std::chrono::steady_clock::duration interval) : interval_(interval) {}
  // True when a warning may be logged now; suppressed is how many were held back since.
  bool allow(std::size_t& suppressed);

 private:
  std::chrono::steady_clock::duration interval_;
  std::chrono::steady_clock::time_point next_{};
  std::size_t suppressed_ = 0;
};

struct ServerState {
  ServerState(boost::asio::io_context& io_context, ServerOptions server_options,
              RequestHandler& request_handler);

  boost::asio::io_context& io;
  ServerOptions options;    // the limits may change (Server::set_limits), the listeners not
  RequestHandler* handler;  // null once the Server is destroyed
  bool accepting = false;
  std::vector<std::unique_ptr<Listener>> listeners;
  std::unordered_set<Connection*> connections;
  ServerStats stats;
  WarningLimiter limit_warnings{std::chrono::seconds(10)};
  WarningLimiter accept_warnings{std::chrono::seconds(10)};
};

}  // namespace mtasts::socketmap
