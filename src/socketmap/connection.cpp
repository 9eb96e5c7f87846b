#include "socketmap/connection.hpp"

#include <sys/socket.h>

#include <algorithm>
#include <exception>
#include <utility>

#include <spdlog/spdlog.h>
#include <boost/asio/buffer.hpp>
#include <boost/asio/error.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/write.hpp>

namespace mtasts::socketmap {

namespace asio = boost::asio;

namespace {

// Write buffers are reused between replies, but one huge reply should not pin its
// memory for the rest of a long-lived connection.
constexpr std::size_t kKeepInFlightCapacity = 64 * 1024;

}  // namespace

Connection::Connection(std::shared_ptr<ServerState> state, Socket socket, const Endpoint& peer,
                       const std::string& listener)
    : StreamConnection(std::move(socket)),
      state_(std::move(state)),
      peer_(peer),
      listener_(listener),
      reader_(state_->options.max_request_bytes),
      write_timer_(state_->io) {}

Connection::~Connection() {
  if (!closed()) {
    state_->connections.erase(this);  // destroyed with its io_context, never closed
  }
}

std::shared_ptr<Connection> Connection::self() {
  return std::static_pointer_cast<Connection>(shared_from_this());
}

std::string Connection::peer_name() const {
  std::string name = describe(peer_);
  if (name == "unix") {
    name += ':';
    name += listener_;
  }
  return name;
}

void Connection::start() {
  state_->connections.insert(this);
  {
    // write() tries a direct write first; it must never block the event loop.
    error_code ignored;
    socket().non_blocking(true, ignored);
  }
  const auto family = peer_.data()->sa_family;
  if (family == AF_INET || family == AF_INET6) {
    // Replies are small and the client waits for each one: do not let Nagle hold
    // a reply back behind an unacknowledged one.
    error_code ignored;
    socket().set_option(asio::ip::tcp::no_delay(true), ignored);
  }
  if (spdlog::should_log(spdlog::level::debug)) {
    spdlog::debug("socketmap: connection from {}", peer_name());
  }
  arm_deadline(last_activity() + state_->options.idle_timeout);
  read_next();
}

void Connection::drain() {
  if (closed() || lingering()) {
    return;
  }
  if (after_ == After::keep_reading) {
    after_ = After::close;
  }
  progress();
}

void Connection::on_closed(std::string_view why) {
  write_timer_.cancel();
  state_->connections.erase(this);
  if (spdlog::should_log(spdlog::level::debug)) {
    spdlog::debug("socketmap: closed connection from {}: {}", peer_name(), why);
  }
}

// Counts every reply not yet written, ready or not, so a client that sends but
// never reads holds at most max_pending_per_connection replies in memory.
bool Connection::saturated() const {
  const std::size_t limit = std::max<std::size_t>(1, state_->options.max_pending_per_connection);
  return replies_.pending() + replies_.output_count() + in_flight_replies_ >= limit;
}

void Connection::read_next() {
  if (paused_ || after_ != After::keep_reading) {
    return;
  }
  read();
}

void Connection::on_end_of_input() {
  // The client is done sending; answer what it asked (requests still buffered
  // behind a pause included), then close.
  if (after_ == After::keep_reading && !paused_) {
    after_ = After::close;
  }
  progress();
}

void Connection::on_input(std::string_view bytes) {
  if (after_ != After::keep_reading) {
    return;  // draining: requests that arrive now are not taken
  }
  reader_.append(bytes);
  process_requests();
}

void Connection::note_partial_request() {
  if (closed() || paused_) return;  // paused: whole requests wait in the buffer
  if (reader_.buffered() == 0) {
    partial_since_ = Clock::time_point::max();
  } else if (partial_since_ == Clock::time_point::max()) {
    partial_since_ = Clock::now();
    const auto deadline = partial_since_ + state_->options.request_timeout;
    if (deadline < next_wake_up()) arm_deadline(deadline);
  }
}

void Connection::process_requests() {
  dispatching_ = true;
  while (!closed() && after_ == After::keep_reading) {
    if (saturated()) {
      paused_ = true;
      break;
    }
    const auto payload = reader_.next();
    if (!payload) {
      if (reader_.error() != NetstringError::none) {
        protocol_error(to_string(reader_.error()));
      } else if (peer_done()) {
        after_ = After::close;  // a partial request before EOF is never completed
      }
      break;
    }
    partial_since_ = Clock::time_point::max();  // a request completed: the clock restarts
    const auto request = parse_request(*payload);
    if (!request) {
      protocol_error("malformed request");
      break;
    }
    if (request->key.size() > state_->options.max_key_bytes) {
      protocol_error("key longer than " + std::to_string(state_->options.max_key_bytes) + " bytes");
      break;
    }
    dispatch(*request);
  }
  dispatching_ = false;
  note_partial_request();
  progress();
}

void Connection::dispatch(const Request& request) {
  const auto seq = replies_.push();
  RequestHandler* handler = state_->handler;
  if (handler == nullptr) {
    replies_.complete(seq, "TEMP server shutting down");
    return;
  }
  try {
    handler->handle(request.name, request.key, [self = self(), seq](std::string_view payload) {
      self->on_reply(seq, payload);
    });
  } catch (const std::exception& e) {
    // A handler that had already answered keeps its answer (complete() ignores this).
    spdlog::error("socketmap: request handler failed for {}: {}", peer_name(), e.what());
    replies_.complete(seq, "TEMP internal error");
  }
}

void Connection::on_reply(ReplyQueue::Sequence seq, std::string_view payload) {
  if (closed()) {
    return;  // the client went away while its answer was being worked out
  }
  // Runs inside the handler's own callbacks (c-ares, curl): nothing may escape.
  try {
    if (!replies_.complete(seq, payload)) {
      spdlog::debug("socketmap: ignored a second reply to one request from {}", peer_name());
      return;
    }
    if (!dispatching_ && !progress_posted_) {
      // Late replies arrive from inside the handler's own machinery (a resolver
      // callback that may answer many requests): continue from the event loop so
      // this connection never re-enters the handler from within it, and so
      // replies completed together leave in one write.
      progress_posted_ = true;
      asio::post(socket().get_executor(), [self = self()] {
        self->progress_posted_ = false;
        self->progress();
      });
    }
  } catch (const std::exception& e) {
    close(e.what());
  }
}

void Connection::protocol_error(std::string_view reason) {
  ++state_->stats.malformed;
  spdlog::warn("socketmap: {} from {}; answering PERM and closing", reason, peer_name());
  // In order after the replies already owed (Postfix pairs replies by position).
  std::string payload = "PERM ";
  payload += reason;
  replies_.complete(replies_.push(), payload);
  after_ = After::linger;
  reader_ = NetstringReader(0);  // the rest of the stream is not looked at
}

// Moves things along after any event: writes ready replies, resumes reading when
// replies have drained, and closes when nothing more is owed.
void Connection::progress() {
  if (closed() || lingering()) {
    return;
  }
  if (!writing_ && replies_.has_output()) {
    write();
  }
  if (after_ == After::keep_reading) {
    if (paused_ && !saturated()) {
      paused_ = false;
      process_requests();  // frames already buffered come first; it calls back here
      return;
    }
    read_next();
    return;
  }
  if (replies_.pending() == 0 && !writing_ && !replies_.has_output()) {
    if (after_ == After::linger) {
      linger(state_->options.idle_timeout, "closed after a protocol error");
    } else {
      close("done");
    }
  }
}

void Connection::write() {
  in_flight_replies_ = replies_.output_count();
  replies_.take_output(in_flight_);
  // Replies are small and Postfix waits for each: the socket buffer nearly
  // always takes the whole reply at once. Writing it now, without an
  // asynchronous operation, saves a trip through the event loop per request.
  error_code ec;
  const std::size_t written = socket().write_some(asio::buffer(in_flight_), ec);
  if (!ec && written == in_flight_.size()) {
    in_flight_replies_ = 0;
    in_flight_.clear();
    if (in_flight_.capacity() > kKeepInFlightCapacity) std::string().swap(in_flight_);
    touch();
    return;
  }
  if (ec && ec != asio::error::would_block && ec != asio::error::try_again) {
    close(ec.message());
    return;
  }
  const std::size_t done = ec ? 0 : written;
  writing_ = true;
  // The deadline moves with every write; the timer is re-armed lazily when it
  // fires, so back-to-back replies cost no timer operations.
  write_deadline_ = Clock::now() + state_->options.write_timeout;
  if (!write_timer_armed_) {
    arm_write_timer(write_deadline_);
  }
  asio::async_write(socket(), asio::buffer(in_flight_) + done,
                    [self = self()](const error_code& ec, std::size_t) { self->on_write(ec); });
}

void Connection::on_write(const error_code& ec) {
  writing_ = false;
  in_flight_replies_ = 0;
  if (in_flight_.capacity() > kKeepInFlightCapacity) {
    std::string().swap(in_flight_);
  }
  if (closed()) {
    return;
  }
  if (ec) {
    close(ec.message());
    return;
  }
  touch();
  progress();
}

// The idle timeout, and the slow client's: a request must be whole within
// request_timeout of its first byte.
void Connection::on_deadline(Clock::time_point now) {
  const auto idle_timeout = state_->options.idle_timeout;
  const auto request_deadline = partial_since_ == Clock::time_point::max()
                                    ? Clock::time_point::max()
                                    : partial_since_ + state_->options.request_timeout;
  if (now >= request_deadline && !paused_) {
    ++state_->stats.request_timeouts;
    close(fmt::format("request incomplete {} ms after its first byte (slow client)",
                      state_->options.request_timeout.count()));
    return;
  }
  if (replies_.pending() > 0 || writing_) {
    arm_deadline(std::min(now + idle_timeout, request_deadline));  // waiting on our side: not idle
    return;
  }
  const auto deadline = last_activity() + idle_timeout;
  if (now >= deadline) {
    ++state_->stats.idle_timeouts;
    close("idle timeout");
    return;
  }
  arm_deadline(std::min(deadline, request_deadline));
}

void Connection::arm_write_timer(Clock::time_point at) {
  write_timer_armed_ = true;
  write_timer_.expires_at(at);
  write_timer_.async_wait([self = self()](const error_code& ec) { self->on_write_timer(ec); });
}

void Connection::on_write_timer(const error_code& ec) {
  if (closed() || ec == asio::error::operation_aborted) {
    return;
  }
  write_timer_armed_ = false;
  if (!writing_) {
    return;
  }
  if (Clock::now() >= write_deadline_) {
    spdlog::warn("socketmap: {} does not read its replies; closing", peer_name());
    ++state_->stats.write_timeouts;
    close("write timeout");
    return;
  }
  arm_write_timer(write_deadline_);
}

}  // namespace mtasts::socketmap
