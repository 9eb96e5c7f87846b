#pragma once
// What the Redis tests share: a real redis-server child on a free loopback port
// (stopped by PID, also on failure), a listener that never answers, a raw
// hiredis client independent of the code under test (the records and the log
// capture come from store_records.hpp and tests/support/).
#include <doctest/doctest.h>
#include <fcntl.h>
#include <hiredis/hiredis.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/asio/io_context.hpp>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "cache/redis_store.hpp"
#include "store_records.hpp"
#include "support/log_capture.hpp"
#include "support/temp_dir.hpp"

namespace mtasts_test {

using mtasts::cache::CachedPolicy;
using mtasts::cache::RedisOptions;
using namespace std::chrono_literals;
namespace fs = std::filesystem;

using Clock = std::chrono::steady_clock;

inline int free_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  REQUIRE(fd >= 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
  socklen_t len = sizeof addr;
  REQUIRE(::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0);
  ::close(fd);
  return ntohs(addr.sin_port);
}

// Forks and execs args[0] with its output to /dev/null; the child dies with the
// test process too (PR_SET_PDEATHSIG).
inline pid_t spawn_child(std::vector<std::string> args) {
  std::vector<char*> argv;
  for (auto& arg : args) argv.push_back(arg.data());
  argv.push_back(nullptr);
  const pid_t parent = ::getpid();
  const pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent) ::_exit(1);
    const int null = ::open("/dev/null", O_WRONLY);
    if (null >= 0) {
      ::dup2(null, 1);
      ::dup2(null, 2);
    }
    ::execv(argv[0], argv.data());
    ::_exit(127);
  }
  return pid;
}

// Stops a child by its PID (a stopped one too) and reaps it.
inline void kill_child(pid_t& pid) {
  if (pid <= 0) return;
  ::kill(pid, SIGCONT);  // a stopped server must be able to die
  ::kill(pid, SIGKILL);
  ::waitpid(pid, nullptr, 0);
  pid = -1;
}

// Waits (at most 10 s) until something accepts connections on the loopback port.
inline void wait_for_port(int port, const char* what) {
  const auto deadline = Clock::now() + 10s;
  while (Clock::now() < deadline) {
    const timeval tv{0, 200000};
    redisContext* c = redisConnectWithTimeout("127.0.0.1", port, tv);
    const bool up = c != nullptr && c->err == 0;
    if (c != nullptr) redisFree(c);
    if (up) return;
    std::this_thread::sleep_for(20ms);
  }
  FAIL(what << " did not start on port " << port);
}

// One redis-server child. Dies with the test process too (PR_SET_PDEATHSIG).
class RedisServer {
 public:
  explicit RedisServer(std::vector<std::string> extra = {})
      : port_(free_port()), extra_(std::move(extra)) {
    start();
  }
  ~RedisServer() { kill(); }
  RedisServer(const RedisServer&) = delete;
  RedisServer& operator=(const RedisServer&) = delete;

  int port() const { return port_; }
  std::string url(const std::string& rest = "") const {
    return "redis://127.0.0.1:" + std::to_string(port_) + rest;
  }
  std::string unix_path() const { return (dir_.path / "redis.sock").string(); }

  void start() {
    REQUIRE(pid_ <= 0);
    // MTASTSD_REDIS_SERVER: another server speaking the protocol (scripts/test.sh's
    // valkey stage runs these tests against Debian 13's valkey-server).
    const char* server = std::getenv("MTASTSD_REDIS_SERVER");
    std::vector<std::string> args{
        server != nullptr && *server != '\0' ? server : "/usr/bin/redis-server",
        "--port",
        std::to_string(port_),
        "--bind",
        "127.0.0.1",
        "--save",
        "",
        "--appendonly",
        "no",
        "--daemonize",
        "no",
        "--dir",
        dir_.path.string(),
        "--unixsocket",
        unix_path(),
        "--loglevel",
        "warning"};
    args.insert(args.end(), extra_.begin(), extra_.end());
    pid_ = spawn_child(std::move(args));
    wait_for_port(port_, "redis-server");
  }

  void kill() { kill_child(pid_); }
  void pause() { ::kill(pid_, SIGSTOP); }
  void resume() { ::kill(pid_, SIGCONT); }

  // A raw hiredis connection (independent of the code under test).
  redisContext* raw(const std::string& password = "") const {
    const timeval tv{2, 0};
    redisContext* c = redisConnectWithTimeout("127.0.0.1", port_, tv);
    REQUIRE(c != nullptr);
    REQUIRE(c->err == 0);
    if (!password.empty()) freeReplyObject(redisCommand(c, "AUTH %s", password.c_str()));
    return c;
  }

 private:
  TempDir dir_{"mtasts-redis"};
  int port_;
  std::vector<std::string> extra_;
  pid_t pid_ = -1;
};

// Accepts connections in the kernel (listen backlog) and never reads: a hung server.
class SilentListener {
 public:
  SilentListener() {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    REQUIRE(fd_ >= 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
    REQUIRE(::listen(fd_, 64) == 0);
    socklen_t len = sizeof addr;
    REQUIRE(::getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len) == 0);
    port_ = ntohs(addr.sin_port);
  }
  ~SilentListener() { ::close(fd_); }
  int port() const { return port_; }

 private:
  int fd_ = -1;
  int port_ = 0;
};

struct RawReply {
  redisReply* reply;
  explicit RawReply(void* r) : reply(static_cast<redisReply*>(r)) { REQUIRE(reply != nullptr); }
  ~RawReply() { freeReplyObject(reply); }
  redisReply* operator->() const { return reply; }
};

struct RawClient {
  redisContext* c;
  explicit RawClient(redisContext* context) : c(context) {}
  ~RawClient() { redisFree(c); }
  template <typename... Args>
  RawReply cmd(const char* format, Args... args) {
    return RawReply(redisCommand(c, format, args...));
  }
};

inline RedisOptions options(const std::string& url) {
  RedisOptions o;
  o.url = url;
  o.connect_timeout = 1000ms;
  o.command_timeout = 1000ms;
  o.key_prefix = "test:policy:";
  o.dane_key_prefix = "test:dane:";
  o.reconnect_min = 50ms;
  o.reconnect_max = 200ms;
  return o;
}

template <typename Pred>
bool run_until(boost::asio::io_context& io, Pred pred, std::chrono::milliseconds limit = 5000ms) {
  const auto deadline = Clock::now() + limit;
  while (!pred()) {
    if (Clock::now() >= deadline) return false;
    io.restart();
    io.run_for(10ms);
  }
  return true;
}

}  // namespace mtasts_test
