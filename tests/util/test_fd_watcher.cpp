// util::FdWatcher on a pipe: readiness is reported until the fd is forgotten,
// and the fd is never closed by the watcher.
#include <doctest/doctest.h>

#include <fcntl.h>
#include <unistd.h>

#include <chrono>
#include <memory>
#include <vector>

#include <boost/asio/io_context.hpp>

#include "util/fd_watcher.hpp"

using mtasts::util::FdWatcher;

namespace {

struct Pipe {
  int fds[2] = {-1, -1};
  Pipe() { REQUIRE(::pipe2(fds, O_NONBLOCK) == 0); }
  ~Pipe() {
    ::close(fds[0]);
    ::close(fds[1]);
  }
  int reader() const { return fds[0]; }
  int writer() const { return fds[1]; }
};

bool is_open(int fd) { return ::fcntl(fd, F_GETFD) != -1; }

}  // namespace

TEST_CASE("readable and writable fds are reported, then waited for again") {
  boost::asio::io_context io;
  Pipe pipe;
  std::vector<std::pair<int, bool>> calls;
  int drained = 0;
  FdWatcher watcher(io, [&](int fd, bool for_read, bool failed) {
    CHECK_FALSE(failed);
    calls.emplace_back(fd, for_read);
    if (for_read) {
      char buf[16];
      drained += static_cast<int>(::read(fd, buf, sizeof buf));
    }
  });
  watcher.watch(pipe.writer(), false, true);
  io.run_for(std::chrono::milliseconds(50));
  REQUIRE_FALSE(calls.empty());
  CHECK(calls.front() == std::make_pair(pipe.writer(), false));
  watcher.forget(pipe.writer());
  CHECK(watcher.size() == 0);

  calls.clear();
  io.restart();
  watcher.watch(pipe.reader(), true, false);
  io.run_for(std::chrono::milliseconds(30));
  CHECK(calls.empty());  // nothing to read yet
  REQUIRE(::write(pipe.writer(), "abc", 3) == 3);
  io.restart();
  io.run_for(std::chrono::milliseconds(50));
  CHECK(calls.size() == 1);
  CHECK(drained == 3);
  REQUIRE(::write(pipe.writer(), "de", 2) == 2);  // waited for again
  io.restart();
  io.run_for(std::chrono::milliseconds(50));
  CHECK(calls.size() == 2);
  CHECK(drained == 5);
}

TEST_CASE("a forgotten fd is not reported, and neither forgetting nor destruction closes it") {
  boost::asio::io_context io;
  Pipe pipe;
  int calls = 0;
  {
    FdWatcher watcher(io, [&](int, bool, bool) { ++calls; });
    watcher.watch(pipe.reader(), true, false);
    watcher.forget(pipe.reader());
    REQUIRE(::write(pipe.writer(), "x", 1) == 1);
    io.run_for(std::chrono::milliseconds(50));
    CHECK(calls == 0);
    CHECK(is_open(pipe.reader()));
    watcher.watch(pipe.reader(), true, false);  // watched while the watcher goes away
  }
  io.restart();
  io.run_for(std::chrono::milliseconds(50));
  CHECK(calls == 0);  // the pending wait ended without a call
  CHECK(is_open(pipe.reader()));
}

TEST_CASE("the library may forget the fd from inside the callback") {
  boost::asio::io_context io;
  Pipe pipe;
  int calls = 0;
  std::unique_ptr<FdWatcher> watcher;
  watcher = std::make_unique<FdWatcher>(io, [&](int fd, bool, bool) {
    ++calls;
    watcher->forget(fd);  // as c-ares does when it closes a socket
  });
  watcher->watch(pipe.reader(), true, false);
  REQUIRE(::write(pipe.writer(), "x", 1) == 1);
  io.run_for(std::chrono::milliseconds(50));
  CHECK(calls == 1);
  CHECK(watcher->size() == 0);
}
