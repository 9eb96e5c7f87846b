#pragma once
// libcurl's multi interface driven by an Asio io_context: curl tells us which
// sockets to watch (CURLMOPT_SOCKETFUNCTION) and when to call it back
// (CURLMOPT_TIMERFUNCTION); a util::FdWatcher and one steady_timer wait for
// it, and finished transfers go to the owner.
#include <curl/curl.h>

#include <functional>
#include <memory>

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>

#include "util/fd_watcher.hpp"

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
  MultiDriver(boost::asio::io_context& io, DoneHandler on_done);
  static int on_socket(CURL* easy, curl_socket_t fd, int what, void* driver,
                       void* socketp) noexcept;
  static int on_timer(CURLM* multi, long timeout_ms, void* driver) noexcept;
  void socket_action(curl_socket_t fd, int events);
  void drain_finished();

  boost::asio::io_context& io_;
  DoneHandler on_done_;
  CURLM* multi_ = nullptr;
  boost::asio::steady_timer timer_;
  util::FdWatcher sockets_;
};

}  // namespace mtasts::http
