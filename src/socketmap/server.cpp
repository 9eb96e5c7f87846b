#include "socketmap/server.hpp"

#include <memory>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include <spdlog/spdlog.h>

#include "socketmap/connection.hpp"
#include "socketmap/server_state.hpp"

namespace mtasts::socketmap {

namespace asio = boost::asio;

namespace {

// The server's part of each accept: at most max_connections open. (A loop
// calls take only while open, and stop_accepting closes every loop first.)
void take_connection(const std::shared_ptr<ServerState>& state, const AcceptLoop& listener,
                     Socket& socket, const Endpoint& peer) {
  if (state->connections.size() >= state->options.max_connections) {
    ++state->stats.refused;
    std::size_t suppressed = 0;
    if (state->limit_warnings.allow(suppressed)) {
      spdlog::warn(
          "socketmap: {} connections open (max_connections); refused {} ({} more refused "
          "since the last warning)",
          state->connections.size(), describe(peer), suppressed);
    }
    return;
  }
  ++state->stats.accepted;
  std::make_shared<Connection>(state, std::move(socket), peer, listener.name())->start();
}

}  // namespace

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
  for (auto& acceptor : bound) {
    // The loop holds the state through take until it is closed (stop_accepting).
    auto loop = std::make_shared<AcceptLoop>(
        std::move(acceptor), "socketmap",
        [state = impl_->state](const AcceptLoop& from, Socket& socket, const Endpoint& peer) {
          take_connection(state, from, socket, peer);
        });
    state.listeners.push_back(loop);
    spdlog::info("socketmap: listening on {}", loop->name());
  }
  for (const auto& loop : state.listeners) loop->start();
}

void Server::stop_accepting() {
  auto& state = *impl_->state;
  for (const auto& listener : state.listeners) {
    listener->close();
  }
  // drain() may close a connection, which removes it from the set.
  std::vector<std::shared_ptr<Connection>> open;
  open.reserve(state.connections.size());
  for (Connection* connection : state.connections) {
    open.push_back(std::static_pointer_cast<Connection>(connection->shared_from_this()));
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
    open.push_back(std::static_pointer_cast<Connection>(connection->shared_from_this()));
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
    if (listener->is_open()) {
      names.push_back(listener->name());
    }
  }
  return names;
}

}  // namespace mtasts::socketmap
