#pragma once
// One c-ares channel driven by an Asio io_context: c-ares tells us which
// sockets it wants watched (ARES_OPT_SOCK_STATE_CB), a util::FdWatcher waits on
// them, and one steady_timer armed from ares_timeout() lets c-ares run its
// retries when no socket event comes.
#include <ares.h>

// The one place that tells c-ares versions apart (Debian 12 has 1.18, Debian 13
// 1.34). From 1.28 a query is sent as a parsed record (ares_send_dnsrec; 1.34
// deprecates ares_send) and the servers are read as text (ares_get_servers_csv,
// 1.24; ares_get_servers_ports is deprecated); since 1.23 c-ares caches answers
// by default, which we turn off: the daemon caches what it learns itself, and a
// DNS lookup must ask the nameserver (as 1.18 always does); and a malformed
// answer fails every query sharing its UDP socket, so each query gets its own.
#if ARES_VERSION >= 0x011c00
#define MTASTS_ARES_DNSREC 1
#else
#define MTASTS_ARES_DNSREC 0
#endif

#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>

#include "dns/resolver.hpp"
#include "util/fd_watcher.hpp"

namespace mtasts::dns {

struct AresReply {
  int status = ARES_SUCCESS;           // c-ares status
  std::vector<unsigned char> message;  // the response, when c-ares had one
};

class AresDriver : public std::enable_shared_from_this<AresDriver> {
 public:
  // Throws std::invalid_argument on a bad nameserver entry, timeout or tries,
  // std::runtime_error when c-ares cannot be initialised.
  static std::shared_ptr<AresDriver> create(boost::asio::io_context& io,
                                            const ResolverOptions& options);
  // Queries still in c-ares complete with ARES_EDESTRUCTION.
  ~AresDriver();
  AresDriver(const AresDriver&) = delete;
  AresDriver& operator=(const AresDriver&) = delete;

  // Sends a complete DNS query message. on_reply is posted to the io_context
  // exactly once, never run inside c-ares, so it may send again or destroy
  // the driver.
  void send(std::vector<unsigned char> query, std::function<void(AresReply)> on_reply);

  std::size_t in_flight() const { return in_flight_; }
  // The servers the channel asks, in order, as "ADDR:PORT" / "[V6ADDR]:PORT"
  // (from the options, or from /etc/resolv.conf when they name none).
  std::vector<std::string> servers() const;
  boost::asio::io_context& io() { return io_; }

 private:
  struct Request;

  explicit AresDriver(boost::asio::io_context& io);
  static void on_sock_state(void* data, ares_socket_t fd, int readable, int writable) noexcept;
  static void on_answer(void* arg, int status, int timeouts, unsigned char* abuf,
                        int alen) noexcept;
#if MTASTS_ARES_DNSREC
  static void on_answer_record(void* arg, ares_status_t status, std::size_t timeouts,
                               const ares_dns_record_t* record) noexcept;
#endif
  void process(ares_socket_t read_fd, ares_socket_t write_fd);
  void arm_timer();

  boost::asio::io_context& io_;
  ares_channel channel_ = nullptr;
  boost::asio::steady_timer timer_;
  util::FdWatcher sockets_;
  std::size_t in_flight_ = 0;
};

}  // namespace mtasts::dns
