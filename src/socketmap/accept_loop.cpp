#include "socketmap/accept_loop.hpp"

#include <chrono>
#include <utility>

#include <spdlog/spdlog.h>
#include <boost/asio/error.hpp>

namespace mtasts::socketmap {

namespace asio = boost::asio;

namespace {

// After an accept error such as EMFILE the pending connection stays queued and
// the listening socket stays readable: retrying at once would spin.
constexpr std::chrono::milliseconds kAcceptRetry{100};

}  // namespace

AcceptLoop::AcceptLoop(BoundAcceptor bound, std::string log_name, Take take)
    : bound_(std::move(bound)),
      log_name_(std::move(log_name)),
      take_(std::move(take)),
      retry_(bound_.acceptor.get_executor()) {}

void AcceptLoop::start() { accept_next(); }

void AcceptLoop::close() {
  if (closed_) return;
  closed_ = true;
  take_ = nullptr;
  retry_.cancel();
  if (bound_.acceptor.is_open()) {
    error_code ignored;
    bound_.acceptor.close(ignored);
    if (bound_.file) remove_socket_file(*bound_.file);
  }
}

void AcceptLoop::accept_next() {
  bound_.acceptor.async_accept(peer_,
                               [self = shared_from_this()](const error_code& ec, Socket socket) {
                                 self->on_accept(ec, std::move(socket));
                               });
}

void AcceptLoop::on_accept(const error_code& ec, Socket socket) {
  if (closed_ || ec == asio::error::operation_aborted) {
    return;  // the socket, if any, closes with its destructor
  }
  if (ec) {
    std::size_t suppressed = 0;
    if (warnings_.allow(suppressed)) {
      spdlog::warn("{}: accept on {} failed: {} ({} similar warnings suppressed)", log_name_,
                   bound_.name, ec.message(), suppressed);
    }
    if (ec == asio::error::connection_aborted) {
      accept_next();  // that client gave up; the next one may be fine
      return;
    }
    retry_.expires_after(kAcceptRetry);
    retry_.async_wait([self = shared_from_this()](const error_code& wait_ec) {
      if (!wait_ec && !self->closed_) self->accept_next();
    });
    return;
  }
  // A copy: take may close the loop, which lets go of take_.
  const Take take = take_;
  take(*this, socket, peer_);
  if (!closed_) accept_next();
}

}  // namespace mtasts::socketmap
