#include "socketmap/server.hpp"

#include <cerrno>
#include <stdexcept>
#include <utility>

#include <spdlog/spdlog.h>
#include <boost/asio/error.hpp>

#include "socketmap/connection.hpp"
#include "socketmap/server_state.hpp"

namespace mtasts::socketmap {

namespace asio = boost::asio;
using boost::system::error_code;

namespace {

// After an accept error such as EMFILE the pending connection stays queued and
// the acceptor stays readable: retrying at once would spin.
constexpr std::chrono::milliseconds kAcceptRetry{100};

void accept_next(const std::shared_ptr<ServerState>& state, Listener* listener);

void on_accept(const std::shared_ptr<ServerState>& state, Listener* listener, const error_code& ec,
               Socket socket) {
  if (ec == asio::error::operation_aborted || !state->accepting || state->handler == nullptr ||
      !listener->bound.acceptor.is_open()) {
    return;  // the socket, if any, closes with its destructor
  }
  if (ec) {
    std::size_t suppressed = 0;
    if (state->accept_warnings.allow(suppressed)) {
      spdlog::warn("socketmap: accept on {} failed: {} ({} similar warnings suppressed)",
                   listener->bound.name, ec.message(), suppressed);
    }
    if (ec == asio::error::connection_aborted) {
      accept_next(state, listener);  // that client gave up; the next one may be fine
      return;
    }
    listener->retry.expires_after(kAcceptRetry);
    listener->retry.async_wait([state, listener](const error_code& wait_ec) {
      if (!wait_ec && state->accepting && listener->bound.acceptor.is_open()) {
        accept_next(state, listener);
      }
    });
    return;
  }
  if (state->connections.size() >= state->options.max_connections) {
    error_code ignored;
    socket.close(ignored);
    ++state->stats.refused;
    std::size_t suppressed = 0;
    if (state->limit_warnings.allow(suppressed)) {
      spdlog::warn(
          "socketmap: {} connections open (max_connections); refused {} ({} more refused "
          "since the last warning)",
          state->connections.size(), describe(listener->peer), suppressed);
    }
  } else {
    ++state->stats.accepted;
    std::make_shared<Connection>(state, std::move(socket), listener->peer, listener->bound.name)
        ->start();
  }
  accept_next(state, listener);
}

void accept_next(const std::shared_ptr<ServerState>& state, Listener* listener) {
  listener->bound.acceptor.async_accept(listener->peer,
                                        [state, listener](const error_code& ec, Socket socket) {
                                          on_accept(state, listener, ec, std::move(socket));
                                        });
}

}  // namespace

Listener::Listener(BoundAcceptor bound_acceptor)
    : bound(std::move(bound_acceptor)), retry(bound.acceptor.get_executor()) {}

bool WarningLimiter::allow(std::size_t& suppressed) {
  const auto now = std::chrono::steady_clock::now();
  if (now < next_) {
    ++suppressed_;
    return false;
  }
  next_ = now + interval_;
  suppressed = std::exchange(suppressed_, 0);
  return true;
}

ServerState::ServerState(asio::io_context& io_context, ServerOptions server_options,
                         RequestHandler& request_handler)
    : io(io_context), options(std::move(server_options)), handler(&request_handler) {}

struct Server::Impl {
  std::shared_ptr<ServerState> state;
  bool started = false;
};

void Server::set_limits(const ServerOptions& limits) {
  auto& options = impl_->state->options;
  options.max_connections = limits.max_connections;
  options.max_request_bytes = limits.max_request_bytes;
  options.max_key_bytes = limits.max_key_bytes;
  options.idle_timeout = limits.idle_timeout;
  options.request_timeout = limits.request_timeout;
}

Server::Server(asio::io_context& io, ServerOptions options, RequestHandler& handler)
    : impl_(std::make_unique<Impl>()) {
  impl_->state = std::make_shared<ServerState>(io, std::move(options), handler);
}

Server::~Server() {
  stop_accepting();
  close_all();
  // Accept and reply completions still queued in the io_context keep the state
  // alive; they must no longer reach a handler that may be gone.
  impl_->state->handler = nullptr;
}

void Server::start() {
  if (impl_->started) {
    throw std::logic_error("socketmap server started twice");
  }
  auto& state = *impl_->state;
  const auto& options = state.options;
  std::vector<BoundAcceptor> bound;
  if (!options.inherited_fds.empty()) {
    for (const int fd : options.inherited_fds) bound.push_back(adopt_listener(state.io, fd));
  } else if (!options.unix_path.empty()) {
    bound.push_back(listen_unix(state.io, options.unix_path,
                                {options.unix_mode, options.unix_owner, options.unix_group}));
  } else {
    bound = listen_tcp(state.io, options.host, options.port, options.reuse_port);
  }
  impl_->started = true;
  state.accepting = true;
  for (auto& acceptor : bound) {
    state.listeners.push_back(std::make_unique<Listener>(std::move(acceptor)));
    spdlog::info("socketmap: listening on {}", state.listeners.back()->bound.name);
    accept_next(impl_->state, state.listeners.back().get());
  }
}

void Server::stop_accepting() {
  auto& state = *impl_->state;
  state.accepting = false;
  for (auto& listener : state.listeners) {
    if (!listener->bound.acceptor.is_open()) {
      continue;
    }
    error_code ignored;
    listener->bound.acceptor.close(ignored);
    listener->retry.cancel();
    if (listener->bound.file) {
      remove_socket_file(*listener->bound.file);
    }
  }
  // drain() may close a connection, which removes it from the set.
  std::vector<std::shared_ptr<Connection>> open;
  open.reserve(state.connections.size());
  for (Connection* connection : state.connections) {
    open.push_back(connection->shared_from_this());
  }
  for (const auto& connection : open) {
    connection->drain();
  }
}

void Server::close_all() {
  auto& state = *impl_->state;
  std::vector<std::shared_ptr<Connection>> open;
  open.reserve(state.connections.size());
  for (Connection* connection : state.connections) {
    open.push_back(connection->shared_from_this());
  }
  for (const auto& connection : open) {
    connection->close("server closing");
  }
}

std::size_t Server::connection_count() const { return impl_->state->connections.size(); }

const ServerStats& Server::stats() const { return impl_->state->stats; }

std::vector<std::string> Server::local_endpoints() const {
  std::vector<std::string> names;
  for (const auto& listener : impl_->state->listeners) {
    if (listener->bound.acceptor.is_open()) {
      names.push_back(listener->bound.name);
    }
  }
  return names;
}

}  // namespace mtasts::socketmap
