#include "socketmap/stream_connection.hpp"

#include <algorithm>
#include <utility>

#include <boost/asio/buffer.hpp>
#include <boost/asio/error.hpp>

namespace mtasts::socketmap {

namespace asio = boost::asio;

namespace {

constexpr std::chrono::milliseconds kMaxLinger{2000};
constexpr std::size_t kMaxDiscard = 1024 * 1024;

}  // namespace

StreamConnection::StreamConnection(Socket socket)
    : socket_(std::move(socket)), timer_(socket_.get_executor()), last_activity_(Clock::now()) {}

void StreamConnection::close(std::string_view why) {
  if (closed_) {
    return;
  }
  closed_ = true;
  error_code ignored;
  socket_.close(ignored);
  timer_.cancel();
  on_closed(why);
}

void StreamConnection::read() {
  if (reading_ || peer_done_ || lingering_ || closed_) {
    return;
  }
  start_read();
}

void StreamConnection::start_read() {
  reading_ = true;
  socket_.async_read_some(asio::buffer(read_buffer_),
                          [self = shared_from_this()](const error_code& ec, std::size_t length) {
                            self->on_read(ec, length);
                          });
}

void StreamConnection::on_read(const error_code& ec, std::size_t length) {
  reading_ = false;
  if (closed_) {
    return;
  }
  if (lingering_) {
    // The goodbye: what still comes is dropped until the client closes.
    discarded_ += length;
    if (ec || discarded_ > kMaxDiscard) {
      close(linger_reason_);
      return;
    }
    start_read();
    return;
  }
  if (ec) {
    if (ec != asio::error::eof) {
      close(ec.message());
      return;
    }
    peer_done_ = true;
    on_end_of_input();
    return;
  }
  touch();
  on_input(std::string_view(read_buffer_.data(), length));
}

void StreamConnection::linger(Clock::duration limit, std::string why) {
  if (lingering_ || closed_) {
    return;
  }
  lingering_ = true;
  linger_reason_ = std::move(why);
  error_code ec;
  socket_.shutdown(asio::socket_base::shutdown_send, ec);
  if (ec) {
    close(ec.message());
    return;
  }
  if (peer_done_) {
    close(linger_reason_);  // nothing more can come
    return;
  }
  linger_deadline_ = Clock::now() + std::min<Clock::duration>(limit, kMaxLinger);
  arm_deadline(linger_deadline_);
  if (!reading_) {
    start_read();  // on_read drops what arrives while lingering, and reads again
  }
}

void StreamConnection::arm_deadline(Clock::time_point at) {
  timer_.expires_at(at);
  timer_.async_wait([self = shared_from_this()](const error_code& ec) { self->on_timer(ec); });
}

void StreamConnection::on_timer(const error_code& ec) {
  if (closed_ || ec == asio::error::operation_aborted) {
    return;  // closed, or armed again since
  }
  const auto now = Clock::now();
  if (lingering_) {
    if (now >= linger_deadline_) {
      close(linger_reason_);
    } else {
      arm_deadline(linger_deadline_);
    }
    return;
  }
  on_deadline(now);
}

}  // namespace mtasts::socketmap
