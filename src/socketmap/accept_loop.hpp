#pragma once
// Accepting on one listening socket until it is closed, for every server the
// daemon runs (the socketmap listeners, the control socket): each connection
// goes to the owner's `take`, which decides whether to keep it.
#include <functional>
#include <memory>
#include <string>

#include <boost/asio/steady_timer.hpp>
#include <boost/system/error_code.hpp>

#include "socketmap/listener.hpp"
#include "socketmap/warning_limiter.hpp"

namespace mtasts::socketmap {

class AcceptLoop : public std::enable_shared_from_this<AcceptLoop> {
 public:
  // The loop that accepted, the socket and the client's address; a socket not
  // moved away is closed on return.
  using Take = std::function<void(const AcceptLoop& from, Socket& socket, const Endpoint& peer)>;

  // log_name prefixes the warnings: "socketmap", "control".
  AcceptLoop(BoundAcceptor bound, std::string log_name, Take take);
  AcceptLoop(const AcceptLoop&) = delete;
  AcceptLoop& operator=(const AcceptLoop&) = delete;

  void start();
  // Closes the listening socket (removing the socket file we made) and lets go
  // of `take` (which may hold its owner); an accept already completed is dropped.
  void close();
  bool is_open() const { return !closed_ && bound_.acceptor.is_open(); }
  // "127.0.0.1:8461", "[::1]:8461" or the UNIX socket's path.
  const std::string& name() const { return bound_.name; }

 private:
  using error_code = boost::system::error_code;

  void accept_next();
  void on_accept(const error_code& ec, Socket socket);

  BoundAcceptor bound_;
  std::string log_name_;
  Take take_;
  Endpoint peer_;  // filled by the accept in progress
  boost::asio::steady_timer retry_;
  WarningLimiter warnings_{std::chrono::seconds(10)};
  bool closed_ = false;
};

}  // namespace mtasts::socketmap
