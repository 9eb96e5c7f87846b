// The metrics endpoint over real loopback sockets: the io_context runs on a
// thread of its own, the test is a plain blocking client.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <doctest/doctest.h>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <chrono>
#include <future>
#include <string>
#include <thread>

#include "metrics/http_server.hpp"

using mtasts::metrics::HttpServer;
using mtasts::metrics::HttpServerOptions;
using namespace std::chrono_literals;

namespace {

class Running {
 public:
  explicit Running(HttpServerOptions options)
      : server_(io_, std::move(options),
                [this] { return "scrape " + std::to_string(++scrapes_) + "\n"; }) {
    server_.start();
    const auto name = server_.local_endpoint();
    port_ = static_cast<std::uint16_t>(std::stoi(name.substr(name.rfind(':') + 1)));
    thread_ = std::thread([this] { io_.run(); });
  }
  ~Running() {
    boost::asio::post(io_, [this] {
      server_.stop();
      work_.reset();
    });
    thread_.join();
  }
  std::uint16_t port() const { return port_; }
  // Asked on the io thread, where the server lives.
  std::size_t connections() {
    std::promise<std::size_t> count;
    boost::asio::post(io_, [&] { count.set_value(server_.connection_count()); });
    return count.get_future().get();
  }

 private:
  boost::asio::io_context io_;
  boost::asio::executor_work_guard<boost::asio::io_context::executor_type> work_{
      io_.get_executor()};
  int scrapes_ = 0;
  HttpServer server_;
  std::uint16_t port_ = 0;
  std::thread thread_;
};

// A connected socket with a 5 s receive timeout (a hang fails the test, not CI).
int connect_to(std::uint16_t port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  REQUIRE(fd >= 0);
  timeval tv{5, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
  return fd;
}

void send_all(int fd, const std::string& data) {
  std::size_t sent = 0;
  while (sent < data.size()) {
    const auto n = ::send(fd, data.data() + sent, data.size() - sent, MSG_NOSIGNAL);
    if (n <= 0) return;  // the server may close first (oversized requests)
    sent += static_cast<std::size_t>(n);
  }
}

// Everything until the server closes; "TIMEOUT" if it does not within 5 s.
std::string read_all(int fd) {
  std::string out;
  char buf[4096];
  for (;;) {
    const auto n = ::recv(fd, buf, sizeof buf, 0);
    if (n == 0) break;
    if (n < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK) return "TIMEOUT";
      break;  // a reset after the response counts as closed
    }
    out.append(buf, static_cast<std::size_t>(n));
  }
  ::close(fd);
  return out;
}

std::string exchange(std::uint16_t port, const std::string& request) {
  const int fd = connect_to(port);
  send_all(fd, request);
  return read_all(fd);
}

HttpServerOptions loopback() {
  HttpServerOptions o;
  o.address = "127.0.0.1";
  o.port = 0;
  return o;
}

}  // namespace

TEST_CASE("GET /metrics is served, each scrape rendered anew; other paths 404") {
  Running server(loopback());
  auto r = exchange(server.port(), "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n");
  CHECK(r.starts_with("HTTP/1.1 200 OK\r\n"));
  CHECK(r.ends_with("\r\n\r\nscrape 1\n"));
  r = exchange(server.port(), "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n");
  CHECK(r.ends_with("\r\n\r\nscrape 2\n"));
  CHECK(exchange(server.port(), "GET /admin HTTP/1.1\r\n\r\n").starts_with("HTTP/1.1 404 "));
  CHECK(server.connections() == 0);
}

TEST_CASE("a request head longer than the bound gets 431 and the connection closed") {
  Running server(loopback());
  const std::string huge = "GET /metrics HTTP/1.1\r\nX: " + std::string(20000, 'a');
  const auto r = exchange(server.port(), huge);
  CHECK(r.starts_with("HTTP/1.1 431 "));
}

TEST_CASE("a client that sends nothing is closed at the deadline") {
  auto options = loopback();
  options.timeout = 200ms;
  Running server(options);
  const auto started = std::chrono::steady_clock::now();
  const int fd = connect_to(server.port());
  send_all(fd, "GET /metrics HTTP/1.1\r\n");  // never finished
  CHECK(read_all(fd).empty());
  CHECK(std::chrono::steady_clock::now() - started < 3s);
  CHECK(server.connections() == 0);
}

TEST_CASE("connections beyond max_connections are closed at once; the endpoint recovers") {
  auto options = loopback();
  options.max_connections = 2;
  options.timeout = 1500ms;
  Running server(options);
  const int a = connect_to(server.port());
  const int b = connect_to(server.port());
  for (int i = 0; i < 100 && server.connections() < 2; ++i) std::this_thread::sleep_for(10ms);
  REQUIRE(server.connections() == 2);
  const int c = connect_to(server.port());
  send_all(c, "GET /metrics HTTP/1.1\r\n\r\n");
  CHECK(read_all(c).empty());  // closed without an answer
  ::close(a);
  ::close(b);
  for (int i = 0; i < 100 && server.connections() > 0; ++i) std::this_thread::sleep_for(10ms);
  CHECK(exchange(server.port(), "GET /metrics HTTP/1.1\r\n\r\n").starts_with("HTTP/1.1 200 OK"));
}

TEST_CASE("start() names the address it cannot use") {
  boost::asio::io_context io;
  HttpServerOptions bad;
  bad.address = "not-an-address";
  HttpServer server(io, bad, [] { return std::string(); });
  CHECK_THROWS_WITH_AS(server.start(), doctest::Contains("not-an-address"), std::runtime_error);
  HttpServerOptions foreign;
  foreign.address = "192.0.2.1";  // TEST-NET-1: not an address of this host
  foreign.port = 0;
  HttpServer other(io, foreign, [] { return std::string(); });
  CHECK_THROWS_WITH_AS(other.start(), doctest::Contains("192.0.2.1"), std::runtime_error);
}
