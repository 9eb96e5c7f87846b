#pragma once
// libcurl's multi interface driven by an Asio io_context: curl tells us which
// sockets to watch (CURLMOPT_SOCKETFUNCTION) and when to call it back
// (CURLMOPT_TIMERFUNCTION); we wait on non-owning stream_descriptors and one
// steady_timer, and hand finished transfers to the owner.
#include <curl/curl.h>

#include <functional>
#include <memory>
#include <unordered_map>

#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/steady_timer.hpp>

namespace mtasts::http {

class MultiDriver : public std::enable_shared_from_this<MultiDriver> {
 public:
  // on_done runs from an Asio handler (never inside curl), after the easy
  // handle was removed from the multi handle. It may add new handles.
  using DoneHandler = std::function<void(CURL* easy, CURLcode result)>;

  // Throws std::runtime_error when curl cannot be initialised.
  static std::shared_ptr<MultiDriver> create(boost::asio::io_context& io, DoneHandler on_done);
  ~MultiDriver();
  MultiDriver(const MultiDriver&) = delete;
  MultiDriver& operator=(const MultiDriver&) = delete;

  // Starts a configured easy handle; false when curl refused it.
  bool add(CURL* easy);
  // Stops a running transfer without completing it (used at shutdown).
  void remove(CURL* easy);

  // For CURLOPT_CLOSESOCKETFUNCTION with this driver as CLOSESOCKETDATA: stop
  // watching the fd before curl's socket is closed, so a reused fd number is
  // never watched for the wrong socket.
  static int close_socket(void* driver, curl_socket_t fd) noexcept;

 private:
  struct Watch;

  MultiDriver(boost::asio::io_context& io, DoneHandler on_done);
  static int on_socket(CURL* easy, curl_socket_t fd, int what, void* driver,
                       void* socketp) noexcept;
  static int on_timer(CURLM* multi, long timeout_ms, void* driver) noexcept;
  void update_watch(curl_socket_t fd, int what);
  void forget(curl_socket_t fd);
  void start_wait(const std::shared_ptr<Watch>& watch, bool for_read);
  void on_ready(const std::shared_ptr<Watch>& watch, bool for_read, bool failed);
  void socket_action(curl_socket_t fd, int events);
  void drain_finished();

  boost::asio::io_context& io_;
  DoneHandler on_done_;
  CURLM* multi_ = nullptr;
  boost::asio::steady_timer timer_;
  std::unordered_map<curl_socket_t, std::shared_ptr<Watch>> watches_;
};

}  // namespace mtasts::http
