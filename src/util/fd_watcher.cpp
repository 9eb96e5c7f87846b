#include "util/fd_watcher.hpp"

#include <utility>

#include <boost/asio/posix/stream_descriptor.hpp>

namespace mtasts::util {

struct FdWatcher::Watch {
  Watch(boost::asio::io_context& io, int fd) : descriptor(io, fd), fd(fd) {}
  boost::asio::posix::stream_descriptor descriptor;
  int fd;
  bool want_read = false;
  bool want_write = false;
  bool reading = false;  // an async_wait(wait_read) is outstanding
  bool writing = false;
  bool active = true;  // false once forgotten or the watcher is gone

  void release() {
    active = false;
    // Cancels the outstanding waits (operation_aborted) without closing the fd.
    descriptor.release();
  }
};

FdWatcher::FdWatcher(boost::asio::io_context& io, Ready ready)
    : io_(io), ready_(std::move(ready)) {}

FdWatcher::~FdWatcher() {
  *alive_ = false;
  for (auto& [fd, watch] : watches_) watch->release();
}

void FdWatcher::watch(int fd, bool read, bool write) {
  if (!read && !write) {
    forget(fd);
    return;
  }
  auto it = watches_.find(fd);
  if (it == watches_.end()) it = watches_.emplace(fd, std::make_shared<Watch>(io_, fd)).first;
  const auto w = it->second;
  w->want_read = read;
  w->want_write = write;
  if (read && !w->reading) start_wait(w, true);
  if (write && !w->writing) start_wait(w, false);
}

void FdWatcher::forget(int fd) {
  auto it = watches_.find(fd);
  if (it == watches_.end()) return;
  it->second->release();
  watches_.erase(it);
}

void FdWatcher::start_wait(const std::shared_ptr<Watch>& watch, bool for_read) {
  (for_read ? watch->reading : watch->writing) = true;
  const auto type = for_read ? boost::asio::posix::stream_descriptor::wait_read
                             : boost::asio::posix::stream_descriptor::wait_write;
  watch->descriptor.async_wait(
      type, [this, alive = alive_, watch, for_read](const boost::system::error_code& ec) {
        (for_read ? watch->reading : watch->writing) = false;
        if (!*alive || ec == boost::asio::error::operation_aborted || !watch->active) return;
        on_ready(watch, for_read, static_cast<bool>(ec));
      });
}

void FdWatcher::on_ready(const std::shared_ptr<Watch>& watch, bool for_read, bool failed) {
  if (for_read ? !watch->want_read : !watch->want_write) return;
  const auto alive = alive_;
  ready_(watch->fd, for_read, failed);
  // The library may have forgotten the fd, or its owner destroyed us.
  if (!*alive || !watch->active) return;
  // Waiting again re-arms epoll, which reports data the library left unread
  // (c-ares reads a TCP length prefix and the message in separate calls).
  if (for_read && watch->want_read && !watch->reading) start_wait(watch, true);
  if (!for_read && watch->want_write && !watch->writing) start_wait(watch, false);
}

}  // namespace mtasts::util
