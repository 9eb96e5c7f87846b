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

struct AresDriver::Request {
  boost::asio::io_context* io;
  AresDriver* driver;  // valid: c-ares runs callbacks only inside our calls into it
  std::function<void(AresReply)> on_reply;
};

AresDriver::AresDriver(boost::asio::io_context& io)
    : io_(io),
      timer_(io),
      // EPOLLERR is processed like readiness: c-ares then sees the socket error.
      sockets_(io, [this](int fd, bool for_read, bool) {
        if (for_read) {
          process(fd, ARES_SOCKET_BAD);
        } else {
          process(ARES_SOCKET_BAD, fd);
        }
      }) {}

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
  int mask = ARES_OPT_FLAGS | ARES_OPT_EDNSPSZ | ARES_OPT_TIMEOUTMS | ARES_OPT_TRIES |
             ARES_OPT_SOCK_STATE_CB;
#if MTASTS_ARES_DNSREC
  opts.qcache_max_ttl = 0;  // no query cache
  mask |= ARES_OPT_QUERY_CACHE;
  // One UDP socket per query. c-ares 1.34 closes a socket on which a malformed
  // answer arrives and fails every query still waiting on it (1.18 dropped the
  // packet): one hostile domain's answer must not fail the lookups of others.
  // A fresh source port per query is also what RFC 5452 asks for.
  opts.udp_max_queries = 1;
  mask |= ARES_OPT_UDP_MAX_QUERIES;
#endif
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
#if MTASTS_ARES_DNSREC
  // "ADDR:PORT,[V6ADDR]:PORT%IFACE,...": read back through parse_nameserver().
  char* csv = ares_get_servers_csv(channel_);
  if (csv == nullptr) return out;
  const std::string text(csv);
  ares_free_string(csv);
  std::size_t start = 0;
  while (start < text.size()) {
    std::size_t end = text.find(',', start);
    if (end == std::string::npos) end = text.size();
    std::string entry = text.substr(start, end - start);
    start = end + 1;
    if (const auto pct = entry.find('%'); pct != std::string::npos) {
      const auto close = entry.find(']', pct);
      entry.erase(pct, close == std::string::npos ? std::string::npos : close - pct);
    }
    try {
      out.push_back(format_nameserver(parse_nameserver(entry)));
    } catch (const std::exception&) {
      // not an address we could name; the channel still asks it
    }
  }
#else
  ares_addr_port_node* list = nullptr;
  if (ares_get_servers_ports(channel_, &list) != ARES_SUCCESS) return out;
  for (const auto* node = list; node != nullptr; node = node->next) {
    char text[INET6_ADDRSTRLEN] = {};
    const bool v6 = node->family == AF_INET6;
    if (inet_ntop(node->family,
                  v6 ? static_cast<const void*>(&node->addr.addr6)
                     : static_cast<const void*>(&node->addr.addr4),
                  text, sizeof text) == nullptr) {
      continue;
    }
    const auto port = static_cast<std::uint16_t>(node->udp_port != 0 ? node->udp_port : 53);
    out.push_back(format_nameserver({text, v6, port}));
  }
  ares_free_data(list);
#endif
  return out;
}

AresDriver::~AresDriver() {
  if (channel_ != nullptr) {
    // Runs on_answer with ARES_EDESTRUCTION for every query (posted, so no
    // caller code runs here) and reports each socket as unwatched.
    ares_destroy(channel_);
    channel_ = nullptr;
  }
  timer_.cancel();
}

void AresDriver::send(std::vector<unsigned char> query, std::function<void(AresReply)> on_reply) {
  auto request = std::make_unique<Request>(Request{&io_, this, std::move(on_reply)});
  ++in_flight_;
  // c-ares copies the query; on failure it calls on_answer before returning.
#if MTASTS_ARES_DNSREC
  ares_dns_record_t* record = nullptr;
  const ares_status_t parsed = ares_dns_parse(query.data(), query.size(), 0, &record);
  if (parsed != ARES_SUCCESS) {
    on_answer_record(request.release(), parsed, 0, nullptr);
  } else {
    unsigned short qid = 0;
    ares_send_dnsrec(channel_, record, &AresDriver::on_answer_record, request.release(), &qid);
    ares_dns_record_destroy(record);
  }
#else
  ares_send(channel_, query.data(), static_cast<int>(query.size()), &AresDriver::on_answer,
            request.release());
#endif
  arm_timer();
}

#if MTASTS_ARES_DNSREC
void AresDriver::on_answer_record(void* arg, ares_status_t status, std::size_t timeouts,
                                  const ares_dns_record_t* record) noexcept {
  // The response as it came (c-ares parsed it; ldns reads it again, as with 1.18).
  unsigned char* wire = nullptr;
  std::size_t size = 0;
  if (record != nullptr && ares_dns_write(record, &wire, &size) != ARES_SUCCESS) {
    wire = nullptr;
    size = 0;
  }
  on_answer(arg, static_cast<int>(status), static_cast<int>(timeouts), wire,
            static_cast<int>(size));
  ares_free_string(wire);
}
#endif

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
    static_cast<AresDriver*>(data)->sockets_.watch(fd, readable != 0, writable != 0);
  } catch (const std::exception& e) {
    // The socket goes unwatched; the timer still ends its queries.
    spdlog::error("dns: cannot watch socket {}: {}", fd, e.what());
  }
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
