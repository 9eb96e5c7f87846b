// StreamConnection, the part every accepted stream shares (the socketmap
// connection's and the control channel's): input and its end, the deadline
// timer, the goodbye after a protocol error, closing once. Over a socketpair:
// the other end is a plain non-blocking descriptor the test drives by hand.
#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <doctest/doctest.h>
#include <boost/asio/buffer.hpp>
#include <boost/asio/generic/stream_protocol.hpp>
#include <boost/asio/io_context.hpp>

#include "socket_harness.hpp"
#include "socketmap/stream_connection.hpp"

namespace mtasts::socketmap {
namespace {

using namespace std::chrono_literals;
using test::run_for;
using test::run_until;

// Records every event; the test calls the protected operations through it.
class Recorder final : public StreamConnection {
 public:
  explicit Recorder(Socket socket) : StreamConnection(std::move(socket)) {}

  using StreamConnection::arm_deadline;
  using StreamConnection::linger;
  using StreamConnection::lingering;
  using StreamConnection::peer_done;
  using StreamConnection::read;
  using StreamConnection::reading;

  // Writes now (the socketpair's buffer takes a short text whole).
  bool say(std::string_view text) {
    error_code ec;
    return socket().write_some(boost::asio::buffer(text), ec) == text.size() && !ec;
  }

  std::string input;
  int ends = 0;
  std::vector<Clock::time_point> deadlines;
  std::vector<std::string> closes;
  bool read_on_input = true;

 private:
  void on_input(std::string_view bytes) override {
    input += bytes;
    if (read_on_input) read();
  }
  void on_end_of_input() override { ++ends; }
  void on_deadline(Clock::time_point now) override { deadlines.push_back(now); }
  void on_closed(std::string_view why) override { closes.emplace_back(why); }
};

struct Pair {
  boost::asio::io_context io;
  int client = -1;
  std::shared_ptr<Recorder> server;

  Pair() {
    int fds[2];
    REQUIRE(::socketpair(AF_UNIX, SOCK_STREAM, 0, fds) == 0);
    client = fds[0];
    ::fcntl(client, F_SETFL, ::fcntl(client, F_GETFL) | O_NONBLOCK);
    Socket socket(io);
    socket.assign(boost::asio::generic::stream_protocol(AF_UNIX, 0), fds[1]);
    server = std::make_shared<Recorder>(std::move(socket));
  }
  ~Pair() {
    if (client >= 0) ::close(client);
  }

  bool send(std::string_view bytes) { return test::send_all(io, client, bytes); }
  // What the server wrote so far; `eof` is set once it has shut down its side.
  std::string received(bool& eof) {
    std::string out;
    char buffer[4096];
    for (;;) {
      const ssize_t n = ::recv(client, buffer, sizeof buffer, 0);
      if (n > 0) {
        out.append(buffer, static_cast<std::size_t>(n));
        continue;
      }
      eof = n == 0;
      return out;
    }
  }
  void close_client() {
    ::close(client);
    client = -1;
  }
};

TEST_CASE("stream: bytes reach on_input; the client's end reaches on_end_of_input once") {
  Pair p;
  p.server->read();
  CHECK(p.server->reading());
  REQUIRE(p.send("hello "));
  REQUIRE(p.send("world"));
  REQUIRE(run_until(p.io, [&] { return p.server->input == "hello world"; }));
  ::shutdown(p.client, SHUT_WR);
  REQUIRE(run_until(p.io, [&] { return p.server->ends == 1; }));
  CHECK(p.server->peer_done());
  p.server->read();  // nothing more can come: no read starts
  CHECK_FALSE(p.server->reading());
  run_for(p.io, 20ms);
  CHECK(p.server->ends == 1);
  CHECK(p.server->closes.empty());  // the end of input alone closes nothing
}

TEST_CASE("stream: close runs once, stops the timer, and later events find it closed") {
  Pair p;
  p.server->read();
  p.server->arm_deadline(StreamConnection::Clock::now() + 30ms);
  p.server->close("first");
  p.server->close("second");
  CHECK(p.server->closed());
  CHECK(p.server->closes == std::vector<std::string>{"first"});
  run_for(p.io, 80ms);
  CHECK(p.server->deadlines.empty());
  bool eof = false;
  p.received(eof);
  CHECK(eof);
  CHECK_FALSE(p.send("late"));  // the socket is gone
}

TEST_CASE("stream: the deadline wakes on_deadline once; arming again replaces it") {
  Pair p;
  const auto start = StreamConnection::Clock::now();
  p.server->arm_deadline(start + 10s);
  p.server->arm_deadline(start + 40ms);  // replaces the far one
  REQUIRE(run_until(p.io, [&] { return !p.server->deadlines.empty(); }));
  CHECK(p.server->deadlines[0] >= start + 40ms);
  run_for(p.io, 60ms);
  CHECK(p.server->deadlines.size() == 1);
  CHECK(p.server->closes.empty());  // what a deadline means is the protocol's to say
}

TEST_CASE("stream: the goodbye reads and drops what the client still sends, then closes") {
  Pair p;
  p.server->read_on_input = false;
  REQUIRE(p.server->say("PERM bad\n"));
  p.server->linger(10s, "closed after a protocol error");
  CHECK(p.server->lingering());
  bool eof = false;
  std::string got;
  REQUIRE(run_until(p.io, [&] {
    got += p.received(eof);
    return eof && got == "PERM bad\n";  // the reply, then an orderly end
  }));
  // The client has not noticed yet and keeps sending: nothing reaches on_input,
  // nothing makes the kernel reset the connection.
  REQUIRE(p.send(std::string(100000, 'x')));
  run_for(p.io, 20ms);
  CHECK(p.server->input.empty());
  CHECK(p.server->closes.empty());
  p.close_client();
  REQUIRE(run_until(p.io, [&] { return !p.server->closes.empty(); }));
  CHECK(p.server->closes == std::vector<std::string>{"closed after a protocol error"});
  CHECK(p.server->deadlines.empty());  // the goodbye's own deadline is not the protocol's
}

TEST_CASE("stream: the goodbye ends at its limit when the client neither sends nor closes") {
  Pair p;
  const auto start = StreamConnection::Clock::now();
  p.server->linger(60ms, "gave up");
  REQUIRE(run_until(p.io, [&] { return !p.server->closes.empty(); }));
  CHECK(StreamConnection::Clock::now() - start >= 60ms);
  CHECK(p.server->closes == std::vector<std::string>{"gave up"});
  CHECK(p.server->deadlines.empty());
}

TEST_CASE("stream: the goodbye lasts 2 s at most, whatever limit the protocol asks") {
  Pair p;
  const auto start = StreamConnection::Clock::now();
  p.server->linger(1h, "gave up");
  REQUIRE(run_until(
      p.io, [&] { return !p.server->closes.empty(); }, 5000ms));
  const auto took = StreamConnection::Clock::now() - start;
  CHECK(took >= 2s);
  CHECK(took < 4s);
}

TEST_CASE("stream: a client that sends more than 1 MiB after the goodbye is closed at once") {
  Pair p;
  p.server->linger(1h, "dropped");
  // Sending pumps the server, which drops as it goes, until it has had enough.
  const std::string chunk(64 * 1024, 'x');
  for (int i = 0; i < 40 && p.server->closes.empty(); ++i) {
    if (!p.send(chunk)) break;  // closed under the sender: EPIPE or a reset
  }
  REQUIRE(run_until(
      p.io, [&] { return !p.server->closes.empty(); }, 1500ms));
  CHECK(p.server->closes == std::vector<std::string>{"dropped"});
}

TEST_CASE("stream: a goodbye after the client's end of input closes at once") {
  Pair p;
  p.server->read();
  ::shutdown(p.client, SHUT_WR);
  REQUIRE(run_until(p.io, [&] { return p.server->peer_done(); }));
  p.server->linger(10s, "done");
  CHECK(p.server->closes == std::vector<std::string>{"done"});
}

}  // namespace
}  // namespace mtasts::socketmap
