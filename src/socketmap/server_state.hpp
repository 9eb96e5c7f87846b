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

#include "socketmap/accept_loop.hpp"
#include "socketmap/server.hpp"
#include "socketmap/warning_limiter.hpp"

namespace mtasts::socketmap {

class Connection;

struct ServerState {
  ServerState(boost::asio::io_context& io_context, ServerOptions server_options,
              RequestHandler& request_handler);

  boost::asio::io_context& io;
  ServerOptions options;    // the limits may change (Server::set_limits), the listeners not
  RequestHandler* handler;  // null once the Server is destroyed
  std::vector<std::shared_ptr<AcceptLoop>> listeners;
  std::unordered_set<Connection*> connections;
  ServerStats stats;
  WarningLimiter limit_warnings{std::chrono::seconds(10)};
};

}  // namespace mtasts::socketmap
