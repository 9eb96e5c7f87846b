#include "dns/ares_driver.hpp"

#include <arpa/inet.h>

#include <algorithm>
#include <chrono>
#include <mutex>
#include <stdexcept>
#include <string>

#include <spdlog/spdlog.h>
#include <boost/asio/post.hpp>

#include "dns/message.hpp"
#include "dns/nameservers.hpp"

namespace mtasts::dns {
namespace {

void init_library_once() {
  static std::once_flag once;
  static int status = ARES_SUCCESS;
  std::call_once(once, [] { status = ares_library_init(ARES_LIB_INIT_ALL); });
  if (status != ARES_SUCCESS) {
    throw std::runtime_error(std::string("c-ares library init failed: ") + ares_strerror(status));
  }
}

}  // namespace

// A socket c-ares asked us to watch. The descriptor does not own the fd:
// c-ares closes it, after telling us to stop watching (readable=writable=0).
struct AresDriver::Watch {
  Watch(boost::asio::io_context& io, ares_socket_t fd) : descriptor(io, fd), fd(fd) {}
  boost::asio::posix::stream_descriptor descriptor;
  ares_socket_t fd;
  bool want_read = false;
  bool want_write = false;
  bool reading = false;  // an async_wait(wait_read) is outstanding
  bool writing = false;
  bool active = true;  // false once c-ares let go of the fd or the driver is gone

  void release() {
    active = false;
    // Cancels the outstanding waits (operation_aborted) without closing the fd.
    descriptor.release();
  }
};

struct AresDriver::Request {
  boost::asio::io_context* io;
  AresDriver* driver;  // valid: c-ares runs callbacks only inside our calls into it
  std::function<void(AresReply)> on_reply;
};

AresDriver::AresDriver(boost::asio::io_context& io) : io_(io), timer_(io) {}

std::shared_ptr<AresDriver> AresDriver::create(boost::asio::io_context& io,
                                               const ResolverOptions& options) {
  if (options.timeout.count() <= 0) throw std::invalid_argument("DNS timeout must be positive");
  if (options.tries < 1) throw std::invalid_argument("DNS tries must be at least 1");
  const std::string csv = nameservers_csv(options.nameservers);
  init_library_once();

  std::shared_ptr<AresDriver> driver(new AresDriver(io));
  ares_options opts{};
  // EDNS0 with a 1232-byte payload so TXT answers fit in UDP (c-ares switches
  // to TCP on TC itself). NOCHECKRESP: c-ares 1.18 would otherwise drop
  // SERVFAIL/REFUSED answers and report ARES_ECONNREFUSED; we want the real
  // RCODE (a validating resolver's SERVFAIL is not a connection problem).
  opts.flags = ARES_FLAG_EDNS | ARES_FLAG_NOCHECKRESP;
  opts.ednspsz = kEdnsUdpSize;
  opts.timeout = static_cast<int>(std::min<long long>(options.timeout.count(), 1 << 30));
  opts.tries = options.tries;
  opts.sock_state_cb = &AresDriver::on_sock_state;
  opts.sock_state_cb_data = driver.get();
  const int mask = ARES_OPT_FLAGS | ARES_OPT_EDNSPSZ | ARES_OPT_TIMEOUTMS | ARES_OPT_TRIES |
                   ARES_OPT_SOCK_STATE_CB;
  const int rc = ares_init_options(&driver->channel_, &opts, mask);
  if (rc != ARES_SUCCESS) {
    driver->channel_ = nullptr;
    throw std::runtime_error(std::string("c-ares init failed: ") + ares_strerror(rc));
  }
  if (!csv.empty()) {
    const int set = ares_set_servers_ports_csv(driver->channel_, csv.c_str());
    if (set != ARES_SUCCESS) {
      throw std::invalid_argument("nameservers \"" + csv +
                                  "\" rejected by c-ares: " + ares_strerror(set));
    }
  }
  return driver;
}

std::vector<std::string> AresDriver::servers() const {
  std::vector<std::string> out;
  ares_addr_port_node* list = nullptr;
  if (ares_get_servers_ports(channel_, &list) != ARES_SUCCESS) return out;
  for (const auto* node = list; node != nullptr; node = node->next) {
    char text[INET6_ADDRSTRLEN] = {};
    const int port = node->udp_port != 0 ? node->udp_port : 53;
    if (node->family == AF_INET &&
        inet_ntop(AF_INET, &node->addr.addr4, text, sizeof text) != nullptr) {
      out.push_back(std::string(text) + ":" + std::to_string(port));
    } else if (node->family == AF_INET6 &&
               inet_ntop(AF_INET6, &node->addr.addr6, text, sizeof text) != nullptr) {
      out.push_back("[" + std::string(text) + "]:" + std::to_string(port));
    }
  }
  ares_free_data(list);
  return out;
}

AresDriver::~AresDriver() {
  if (channel_ != nullptr) {
    // Runs on_answer with ARES_EDESTRUCTION for every query (posted, so no
    // caller code runs here) and reports each socket as unwatched.
    ares_destroy(channel_);
    channel_ = nullptr;
  }
  for (auto& [fd, watch] : watches_) watch->release();
  watches_.clear();
  timer_.cancel();
}

void AresDriver::send(std::vector<unsigned char> query, std::function<void(AresReply)> on_reply) {
  auto request = std::make_unique<Request>(Request{&io_, this, std::move(on_reply)});
  ++in_flight_;
  // c-ares copies the query; on failure it calls on_answer before returning.
  ares_send(channel_, query.data(), static_cast<int>(query.size()), &AresDriver::on_answer,
            request.release());
  arm_timer();
}

void AresDriver::on_answer(void* arg, int status, int /*timeouts*/, unsigned char* abuf,
                           int alen) noexcept {
  std::unique_ptr<Request> request(static_cast<Request*>(arg));
  if (!request) return;
  --request->driver->in_flight_;
  try {
    AresReply reply;
    reply.status = status;
    if (abuf != nullptr && alen > 0) reply.message.assign(abuf, abuf + alen);
    boost::asio::post(*request->io,
                      [done = std::move(request->on_reply), reply = std::move(reply)]() mutable {
                        done(std::move(reply));
                      });
  } catch (const std::exception& e) {
    spdlog::error("dns: cannot deliver an answer: {}", e.what());
  }
}

void AresDriver::on_sock_state(void* data, ares_socket_t fd, int readable, int writable) noexcept {
  try {
    static_cast<AresDriver*>(data)->update_watch(fd, readable != 0, writable != 0);
  } catch (const std::exception& e) {
    // The socket goes unwatched; the timer still ends its queries.
    spdlog::error("dns: cannot watch socket {}: {}", fd, e.what());
  }
}

void AresDriver::update_watch(ares_socket_t fd, bool readable, bool writable) {
  auto it = watches_.find(fd);
  if (!readable && !writable) {
    if (it != watches_.end()) {
      it->second->release();
      watches_.erase(it);
    }
    return;
  }
  if (it == watches_.end()) {
    it = watches_.emplace(fd, std::make_shared<Watch>(io_, fd)).first;
  }
  const auto watch = it->second;
  watch->want_read = readable;
  watch->want_write = writable;
  if (readable && !watch->reading) start_wait(watch, true);
  if (writable && !watch->writing) start_wait(watch, false);
}

void AresDriver::start_wait(const std::shared_ptr<Watch>& watch, bool for_read) {
  (for_read ? watch->reading : watch->writing) = true;
  const auto type = for_read ? boost::asio::posix::stream_descriptor::wait_read
                             : boost::asio::posix::stream_descriptor::wait_write;
  watch->descriptor.async_wait(
      type, [self = weak_from_this(), watch, for_read](const boost::system::error_code& ec) {
        (for_read ? watch->reading : watch->writing) = false;
        if (ec == boost::asio::error::operation_aborted || !watch->active) return;
        if (auto driver = self.lock()) driver->on_ready(watch, for_read);
      });
}

void AresDriver::on_ready(const std::shared_ptr<Watch>& watch, bool for_read) {
  // Other errors (EPOLLERR) are processed too: c-ares then sees the socket error.
  if (for_read ? !watch->want_read : !watch->want_write) return;
  if (for_read) {
    process(watch->fd, ARES_SOCKET_BAD);
  } else {
    process(ARES_SOCKET_BAD, watch->fd);
  }
  // Waiting again re-arms epoll, which reports data c-ares left unread
  // (it reads a TCP length prefix and the message in separate calls).
  if (!watch->active) return;
  if (for_read && watch->want_read && !watch->reading) start_wait(watch, true);
  if (!for_read && watch->want_write && !watch->writing) start_wait(watch, false);
}

void AresDriver::process(ares_socket_t read_fd, ares_socket_t write_fd) {
  ares_process_fd(channel_, read_fd, write_fd);
  arm_timer();
}

void AresDriver::arm_timer() {
  timeval tv{};
  if (ares_timeout(channel_, nullptr, &tv) == nullptr) {
    timer_.cancel();
    return;
  }
  timer_.expires_after(std::chrono::seconds(tv.tv_sec) + std::chrono::microseconds(tv.tv_usec));
  timer_.async_wait([self = weak_from_this()](const boost::system::error_code& ec) {
    if (ec) return;
    if (auto driver = self.lock()) driver->process(ARES_SOCKET_BAD, ARES_SOCKET_BAD);
  });
}

}  // namespace mtasts::dns
