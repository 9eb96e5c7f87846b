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

// A socket curl asked us to watch. The descriptor does not own the fd: curl
// closes it (through close_socket) after we released it.
struct MultiDriver::Watch {
  Watch(boost::asio::io_context& io, curl_socket_t fd) : descriptor(io, fd), fd(fd) {}
  boost::asio::posix::stream_descriptor descriptor;
  curl_socket_t fd;
  bool want_read = false;
  bool want_write = false;
  bool reading = false;  // an async_wait is outstanding
  bool writing = false;
  bool active = true;

  void release() {
    active = false;
    descriptor.release();  // cancels the waits, leaves the fd open
  }
};

MultiDriver::MultiDriver(boost::asio::io_context& io, DoneHandler on_done)
    : io_(io), on_done_(std::move(on_done)), timer_(io) {}

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
  for (auto& [fd, watch] : watches_) watch->release();
  watches_.clear();
  timer_.cancel();
}

bool MultiDriver::add(CURL* easy) { return curl_multi_add_handle(multi_, easy) == CURLM_OK; }

void MultiDriver::remove(CURL* easy) { curl_multi_remove_handle(multi_, easy); }

int MultiDriver::close_socket(void* driver, curl_socket_t fd) noexcept {
  try {
    static_cast<MultiDriver*>(driver)->forget(fd);
  } catch (const std::exception& e) {
    spdlog::error("http: releasing socket {}: {}", fd, e.what());
  }
  return ::close(fd);
}

int MultiDriver::on_socket(CURL* /*easy*/, curl_socket_t fd, int what, void* driver,
                           void* /*socketp*/) noexcept {
  try {
    static_cast<MultiDriver*>(driver)->update_watch(fd, what);
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

void MultiDriver::forget(curl_socket_t fd) {
  auto it = watches_.find(fd);
  if (it == watches_.end()) return;
  it->second->release();
  watches_.erase(it);
}

void MultiDriver::update_watch(curl_socket_t fd, int what) {
  if (what == CURL_POLL_REMOVE) {
    forget(fd);
    return;
  }
  auto it = watches_.find(fd);
  if (it == watches_.end()) it = watches_.emplace(fd, std::make_shared<Watch>(io_, fd)).first;
  const auto watch = it->second;
  watch->want_read = what == CURL_POLL_IN || what == CURL_POLL_INOUT;
  watch->want_write = what == CURL_POLL_OUT || what == CURL_POLL_INOUT;
  if (watch->want_read && !watch->reading) start_wait(watch, true);
  if (watch->want_write && !watch->writing) start_wait(watch, false);
}

void MultiDriver::start_wait(const std::shared_ptr<Watch>& watch, bool for_read) {
  (for_read ? watch->reading : watch->writing) = true;
  const auto type = for_read ? boost::asio::posix::stream_descriptor::wait_read
                             : boost::asio::posix::stream_descriptor::wait_write;
  watch->descriptor.async_wait(
      type, [self = weak_from_this(), watch, for_read](const boost::system::error_code& ec) {
        (for_read ? watch->reading : watch->writing) = false;
        if (ec == boost::asio::error::operation_aborted || !watch->active) return;
        if (auto driver = self.lock()) driver->on_ready(watch, for_read, static_cast<bool>(ec));
      });
}

void MultiDriver::on_ready(const std::shared_ptr<Watch>& watch, bool for_read, bool failed) {
  if (for_read ? !watch->want_read : !watch->want_write) return;
  int events = for_read ? CURL_CSELECT_IN : CURL_CSELECT_OUT;
  if (failed) events |= CURL_CSELECT_ERR;
  socket_action(watch->fd, events);
  // Waiting again re-arms epoll, which reports data curl left unread.
  if (!watch->active) return;
  if (for_read && watch->want_read && !watch->reading) start_wait(watch, true);
  if (!for_read && watch->want_write && !watch->writing) start_wait(watch, false);
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
