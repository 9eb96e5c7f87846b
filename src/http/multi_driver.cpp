#include "http/multi_driver.hpp"

#include <unistd.h>

#include <chrono>
#include <mutex>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include <spdlog/spdlog.h>

namespace mtasts::http {
namespace {

void init_curl_once() {
  static std::once_flag once;
  static CURLcode status = CURLE_OK;
  std::call_once(once, [] { status = curl_global_init(CURL_GLOBAL_DEFAULT); });
  if (status != CURLE_OK) {
    throw std::runtime_error(std::string("curl_global_init failed: ") + curl_easy_strerror(status));
  }
}

}  // namespace

MultiDriver::MultiDriver(boost::asio::io_context& io, DoneHandler on_done)
    : io_(io),
      on_done_(std::move(on_done)),
      timer_(io),
      sockets_(io, [this](int fd, bool for_read, bool failed) {
        int events = for_read ? CURL_CSELECT_IN : CURL_CSELECT_OUT;
        if (failed) events |= CURL_CSELECT_ERR;
        socket_action(fd, events);
      }) {}

std::shared_ptr<MultiDriver> MultiDriver::create(boost::asio::io_context& io, DoneHandler on_done) {
  init_curl_once();
  std::shared_ptr<MultiDriver> driver(new MultiDriver(io, std::move(on_done)));
  driver->multi_ = curl_multi_init();
  if (driver->multi_ == nullptr) throw std::runtime_error("curl_multi_init failed");
  curl_multi_setopt(driver->multi_, CURLMOPT_SOCKETFUNCTION, &MultiDriver::on_socket);
  curl_multi_setopt(driver->multi_, CURLMOPT_SOCKETDATA, driver.get());
  curl_multi_setopt(driver->multi_, CURLMOPT_TIMERFUNCTION, &MultiDriver::on_timer);
  curl_multi_setopt(driver->multi_, CURLMOPT_TIMERDATA, driver.get());
  return driver;
}

MultiDriver::~MultiDriver() {
  // Closes what curl still holds, calling on_socket/close_socket: members are alive.
  if (multi_ != nullptr) curl_multi_cleanup(multi_);
  timer_.cancel();
}

bool MultiDriver::add(CURL* easy) { return curl_multi_add_handle(multi_, easy) == CURLM_OK; }

void MultiDriver::remove(CURL* easy) { curl_multi_remove_handle(multi_, easy); }

int MultiDriver::close_socket(void* driver, curl_socket_t fd) noexcept {
  try {
    static_cast<MultiDriver*>(driver)->sockets_.forget(fd);
  } catch (const std::exception& e) {
    spdlog::error("http: releasing socket {}: {}", fd, e.what());
  }
  return ::close(fd);
}

int MultiDriver::on_socket(CURL* /*easy*/, curl_socket_t fd, int what, void* driver,
                           void* /*socketp*/) noexcept {
  try {
    static_cast<MultiDriver*>(driver)->sockets_.watch(
        fd, what == CURL_POLL_IN || what == CURL_POLL_INOUT,
        what == CURL_POLL_OUT || what == CURL_POLL_INOUT);  // CURL_POLL_REMOVE: neither
  } catch (const std::exception& e) {
    // Unwatched, the transfer still ends by its timeout.
    spdlog::error("http: cannot watch socket {}: {}", fd, e.what());
  }
  return 0;
}

// CURLMOPT_TIMERFUNCTION: -1 stops the timer, 0 means "call back soon" (not
// from inside this callback: curl forbids re-entering it).
int MultiDriver::on_timer(CURLM* /*multi*/, long timeout_ms, void* data) noexcept {
  auto* driver = static_cast<MultiDriver*>(data);
  try {
    if (timeout_ms < 0) {
      driver->timer_.cancel();
      return 0;
    }
    driver->timer_.expires_after(std::chrono::milliseconds(timeout_ms));
    driver->timer_.async_wait(
        [self = driver->weak_from_this()](const boost::system::error_code& ec) {
          if (ec) return;
          if (auto d = self.lock()) d->socket_action(CURL_SOCKET_TIMEOUT, 0);
        });
    return 0;
  } catch (const std::exception& e) {
    spdlog::error("http: cannot arm the curl timer: {}", e.what());
    return -1;
  }
}

void MultiDriver::socket_action(curl_socket_t fd, int events) {
  int running = 0;
  const CURLMcode rc = curl_multi_socket_action(multi_, fd, events, &running);
  if (rc != CURLM_OK) spdlog::error("http: curl_multi_socket_action: {}", curl_multi_strerror(rc));
  drain_finished();
}

void MultiDriver::drain_finished() {
  // Collect first: on_done may add handles, which must not happen while
  // curl_multi_info_read still walks its queue.
  std::vector<std::pair<CURL*, CURLcode>> finished;
  int left = 0;
  while (CURLMsg* msg = curl_multi_info_read(multi_, &left)) {
    if (msg->msg == CURLMSG_DONE) finished.emplace_back(msg->easy_handle, msg->data.result);
  }
  for (auto& [easy, result] : finished) {
    curl_multi_remove_handle(multi_, easy);
    on_done_(easy, result);
  }
}

}  // namespace mtasts::http
