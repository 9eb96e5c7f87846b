// The control server over a real UNIX socket, asking a lifecycle wired to the
// fakes of tests/resolver (its store answers only when the test moves fake time).
#include "daemon/control.hpp"

#include <sys/socket.h>

#include <chrono>
#include <optional>
#include <string>

#include <doctest/doctest.h>
#include <boost/asio/io_context.hpp>

#include "resolver/lifecycle_world.hpp"
#include "socketmap/socket_harness.hpp"
#include "support/temp_dir.hpp"

namespace mtasts::daemon {
namespace {

using namespace std::chrono_literals;
using resolver::testing::LifecycleSetup;
using resolver::testing::LifecycleWorld;

// A control client (test::Client's connection): one line out, one line back,
// pumping the server's io_context.
class LineClient {
 public:
  explicit LineClient(const std::string& path) : client_(path) { REQUIRE(client_.fd() >= 0); }

  void send(boost::asio::io_context& io, const std::string& line) {
    REQUIRE(client_.send(io, line));
  }
  // Pumps io for `span`; returns the first whole line received, if any.
  // closed is set once the server has closed the connection.
  std::optional<std::string> line(boost::asio::io_context& io, std::chrono::milliseconds span) {
    const auto until = std::chrono::steady_clock::now() + span;
    while (std::chrono::steady_clock::now() < until) {
      io.restart();
      io.run_for(5ms);
      char buffer[4096];
      const ssize_t n = ::recv(client_.fd(), buffer, sizeof buffer, 0);
      if (n > 0) received_.append(buffer, static_cast<std::size_t>(n));
      if (n == 0) closed = true;
      if (const auto newline = received_.find('\n'); newline != std::string::npos) {
        std::string first = received_.substr(0, newline);
        received_.erase(0, newline + 1);
        return first;
      }
      if (closed) return std::nullopt;
    }
    return std::nullopt;
  }
  bool closed = false;

 private:
  socketmap::test::Client client_;
  std::string received_;
};

struct ControlWorld {
  mtasts_test::TempDir dir;
  boost::asio::io_context io;
  LifecycleWorld world{LifecycleSetup{.store = true}};
  std::unique_ptr<ControlServer> server;

  explicit ControlWorld(std::chrono::milliseconds idle_timeout) {
    ControlOptions options;
    options.path = dir.path.string() + "/control.sock";
    options.idle_timeout = idle_timeout;
    server = std::make_unique<ControlServer>(io, options, *world.policies,
                                             std::vector<resolver::Zone>{resolver::Zone{}},
                                             world.time.wall);
    server->start();
  }
  std::string path() const { return dir.path.string() + "/control.sock"; }
};

TEST_CASE("control server: a client that sends nothing is dropped after idle_timeout") {
  ControlWorld w(100ms);
  LineClient client(w.path());
  CHECK_FALSE(client.line(w.io, 400ms));
  CHECK(client.closed);
  CHECK(w.server->connection_count() == 0);
}

TEST_CASE("control server: waiting on the store is not the client's idleness") {
  ControlWorld w(100ms);
  LineClient client(w.path());
  // example.org is not in memory: show reads the store first, and the fake
  // store answers only when fake time moves.
  client.send(w.io, "show example.org\n");
  CHECK_FALSE(client.line(w.io, 400ms));  // four idle timeouts pass meanwhile
  CHECK_FALSE(client.closed);
  w.world.settle();  // the store answers: no policy
  const auto reply = client.line(w.io, 1000ms);
  REQUIRE(reply);
  CHECK(reply->find("example.org") != std::string::npos);
  // Answered, the connection is the client's again: idle, it is dropped.
  CHECK_FALSE(client.line(w.io, 400ms));
  CHECK(client.closed);
}

TEST_CASE("control server: an over-long line gets one error, then a goodbye") {
  ControlWorld w(30s);
  LineClient client(w.path());
  client.send(w.io, std::string(5000, 'x'));
  const auto reply = client.line(w.io, 1000ms);
  REQUIRE(reply);
  CHECK(reply->find("longer than") != std::string::npos);
  // The client neither sends more nor closes: the goodbye ends within 2 s, not
  // at the 30 s idle timeout.
  CHECK_FALSE(client.line(w.io, 3000ms));
  CHECK(client.closed);
}

}  // namespace
}  // namespace mtasts::daemon
