#pragma once
// File descriptors that a C library (c-ares, libcurl) owns, watched on an Asio
// io_context: the library says which fds it wants to read or write, we wait
// with non-owning stream_descriptors and call back when one is ready, then wait
// again for as long as the library still wants it. No fd is ever closed here.
#include <cstddef>
#include <functional>
#include <memory>
#include <unordered_map>

#include <boost/asio/io_context.hpp>

namespace mtasts::util {

class FdWatcher {
 public:
  // ready(fd, for_read, failed): the library should process fd now; failed is
  // set when the wait itself reported an error (EPOLLERR).
  using Ready = std::function<void(int fd, bool for_read, bool failed)>;

  FdWatcher(boost::asio::io_context& io, Ready ready);
  // Stops every wait (handlers then do nothing); the fds stay open.
  ~FdWatcher();
  FdWatcher(const FdWatcher&) = delete;
  FdWatcher& operator=(const FdWatcher&) = delete;

  // What the library wants of fd now; neither = forget it.
  void watch(int fd, bool read, bool write);
  // Before the library closes fd: a reused fd number must never be watched
  // for the socket that had it before.
  void forget(int fd);
  std::size_t size() const { return watches_.size(); }

 private:
  struct Watch;
  void start_wait(const std::shared_ptr<Watch>& watch, bool for_read);
  void on_ready(const std::shared_ptr<Watch>& watch, bool for_read, bool failed);

  boost::asio::io_context& io_;
  Ready ready_;
  std::unordered_map<int, std::shared_ptr<Watch>> watches_;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace mtasts::util
