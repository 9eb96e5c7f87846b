#include "socketmap/server.hpp"

#include <doctest/doctest.h>
#include <sys/resource.h>
#include <sys/stat.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <stdexcept>

#include "socket_harness.hpp"
#include "support/temp_dir.hpp"

using namespace mtasts::socketmap;
using namespace mtasts::socketmap::test;

using mtasts_test::TempDir;

namespace {

struct Fixture {
  explicit Fixture(ServerOptions options = tcp_options())
      : server(std::make_unique<Server>(io, std::move(options), handler)) {
    server->start();
    REQUIRE_FALSE(server->local_endpoints().empty());
    endpoint = server->local_endpoints().front();
  }

  bool count_is(std::size_t n) {
    return run_until(io, [&] { return server->connection_count() == n; });
  }

  boost::asio::io_context io;
  TestHandler handler;
  std::unique_ptr<Server> server;
  std::string endpoint;
};

bool ipv6_loopback_available() {
  const int fd = ::socket(AF_INET6, SOCK_STREAM, 0);
  if (fd < 0) {
    return false;
  }
  sockaddr_in6 address{};
  address.sin6_family = AF_INET6;
  address.sin6_addr = in6addr_loopback;
  const bool ok = ::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0;
  ::close(fd);
  return ok;
}

}  // namespace

TEST_CASE("server: one request, one reply") {
  Fixture f;
  CHECK(f.endpoint.rfind("127.0.0.1:", 0) == 0);
  CHECK(f.endpoint != "127.0.0.1:0");
  Client client(f.endpoint);
  REQUIRE(client.send_request(f.io, "QUERY example.com"));
  CHECK(client.reply(f.io) == "OK QUERY/example.com");
  CHECK(f.server->connection_count() == 1);
}

TEST_CASE("server: many sequential requests on one connection") {
  Fixture f;
  Client client(f.endpoint);
  for (int i = 0; i < 500; ++i) {
    const std::string key = "host" + std::to_string(i) + ".example";
    REQUIRE(client.send_request(f.io, "QUERY " + key));
    REQUIRE(client.reply(f.io) == "OK QUERY/" + key);
  }
  CHECK(f.handler.calls == 500);
}

TEST_CASE("server: pipelined requests answered out of order still reply in request order") {
  Fixture f;
  f.handler.hold = true;
  Client client(f.endpoint);
  std::string burst;
  for (int i = 0; i < 10; ++i) {
    burst += encode_netstring("QUERY k" + std::to_string(i));
  }
  REQUIRE(client.send(f.io, burst));
  REQUIRE(run_until(f.io, [&] { return f.handler.held.size() == 10; }));

  // The last nine complete first: nothing may be sent while the first is owed.
  for (int i = 9; i >= 1; --i) {
    f.handler.held[static_cast<std::size_t>(i)].done("OK " + f.handler.held[i].key);
  }
  run_for(f.io, 30ms);
  client.receive();
  CHECK(client.received_bytes() == 0);

  f.handler.held[0].done("OK " + f.handler.held[0].key);
  for (int i = 0; i < 10; ++i) {
    CHECK(client.reply(f.io) == "OK k" + std::to_string(i));
  }
}

TEST_CASE("server: synchronous and held replies interleave in order") {
  Fixture f;
  Client client(f.endpoint);
  f.handler.hold = true;
  REQUIRE(client.send_request(f.io, "QUERY slow"));
  REQUIRE(run_until(f.io, [&] { return f.handler.held.size() == 1; }));
  f.handler.hold = false;
  REQUIRE(client.send_request(f.io, "QUERY fast"));
  REQUIRE(run_until(f.io, [&] { return f.handler.calls == 2; }));
  run_for(f.io, 20ms);
  client.receive();
  CHECK(client.received_bytes() == 0);
  f.handler.held[0].done("OK slow");
  CHECK(client.reply(f.io) == "OK slow");
  CHECK(client.reply(f.io) == "OK QUERY/fast");
}

TEST_CASE("server: at most max_pending_per_connection requests in flight") {
  auto options = tcp_options();
  options.max_pending_per_connection = 4;
  Fixture f(options);
  f.handler.hold = true;
  Client client(f.endpoint);
  std::string burst;
  for (int i = 0; i < 10; ++i) {
    burst += encode_netstring("QUERY k" + std::to_string(i));
  }
  REQUIRE(client.send(f.io, burst));
  REQUIRE(run_until(f.io, [&] { return f.handler.held.size() == 4; }));
  run_for(f.io, 30ms);
  CHECK(f.handler.held.size() == 4);  // reading paused

  std::size_t answered = 0;
  for (int i = 0; i < 10; ++i) {
    REQUIRE(run_until(f.io, [&] { return f.handler.held.size() > answered; }));
    CHECK(f.handler.held.size() <= answered + 4);
    f.handler.held[answered].done("OK " + f.handler.held[answered].key);
    ++answered;
    CHECK(client.reply(f.io) == "OK k" + std::to_string(i));
  }
}

TEST_CASE("server: malformed input gets PERM and a close; other connections carry on") {
  auto options = tcp_options();
  options.max_request_bytes = 100;
  Fixture f(options);
  Client good(f.endpoint);
  REQUIRE(good.send_request(f.io, "QUERY before"));
  CHECK(good.reply(f.io) == "OK QUERY/before");

  struct Case {
    std::string bytes;
    std::string reply;
  };
  const Case cases[] = {
      {"abc", "PERM malformed netstring length"},
      {"05:QUERY,", "PERM malformed netstring length"},
      {"101:" + std::string(101, 'x') + ",", "PERM netstring too long"},
      {"99999999999:", "PERM netstring too long"},
      {"5:QUERY!", "PERM netstring missing comma"},
      {encode_netstring("QUERY"), "PERM malformed request"},
      {encode_netstring(" example.com"), "PERM malformed request"},
  };
  for (const auto& c : cases) {
    CAPTURE(c.bytes);
    Client bad(f.endpoint);
    REQUIRE(bad.send(f.io, c.bytes));
    CHECK(bad.reply(f.io) == c.reply);
    CHECK(bad.closed_by_server(f.io));
    CHECK_FALSE(bad.reset_seen());

    REQUIRE(good.send_request(f.io, "QUERY still"));
    CHECK(good.reply(f.io) == "OK QUERY/still");
  }
  CHECK(f.count_is(1));
}

TEST_CASE("server: a key over max_key_bytes gets PERM and a close; one at the limit is answered") {
  auto options = tcp_options();
  options.max_request_bytes = 200;
  options.max_key_bytes = 50;
  Fixture f(options);
  Client ok(f.endpoint);
  REQUIRE(ok.send_request(f.io, "QUERY " + std::string(50, 'k')));
  CHECK(ok.reply(f.io) == "OK QUERY/" + std::string(50, 'k'));
  Client bad(f.endpoint);
  REQUIRE(bad.send_request(f.io, "QUERY " + std::string(51, 'k')));
  CHECK(bad.reply(f.io) == "PERM key longer than 50 bytes");
  CHECK(bad.closed_by_server(f.io));
  REQUIRE(ok.send_request(f.io, "QUERY again"));
  CHECK(ok.reply(f.io) == "OK QUERY/again");
}

TEST_CASE("server: a request before the bad frame is answered first") {
  Fixture f;
  f.handler.hold = true;
  Client client(f.endpoint);
  REQUIRE(client.send(f.io, encode_netstring("QUERY first") + "junk"));
  REQUIRE(run_until(f.io, [&] { return f.handler.held.size() == 1; }));
  f.handler.held[0].done("OK first");
  CHECK(client.reply(f.io) == "OK first");
  CHECK(client.reply(f.io) == "PERM malformed netstring length");
  CHECK(client.closed_by_server(f.io));
}

TEST_CASE("server: PERM survives a client that keeps sending") {
  auto options = tcp_options();
  options.max_request_bytes = 100;
  Fixture f(options);
  Client client(f.endpoint);
  // Far more than the limit: the reply must still arrive, not be lost to a reset.
  REQUIRE(client.send(f.io, "100000:" + std::string(200000, 'x')));
  CHECK(client.reply(f.io) == "PERM netstring too long");
  // An orderly end (FIN), not a reset that could destroy the reply in transit.
  CHECK(client.closed_by_server(f.io));
  CHECK_FALSE(client.reset_seen());
  CHECK(f.count_is(1));  // the server drains the rest for a moment
  client.reset();
  CHECK(f.count_is(0));
}

TEST_CASE("server: a partial request and a client close leave the server working") {
  Fixture f;
  {
    Client client(f.endpoint);
    REQUIRE(client.send(f.io, "20:QUERY exa"));
    REQUIRE(f.count_is(1));
  }
  CHECK(f.count_is(0));
  CHECK(f.handler.calls == 0);
  Client next(f.endpoint);
  REQUIRE(next.send_request(f.io, "QUERY ok"));
  CHECK(next.reply(f.io) == "OK QUERY/ok");
}

TEST_CASE("server: requests sent before the client shuts down its side are answered") {
  Fixture f;
  f.handler.hold = true;
  Client client(f.endpoint);
  REQUIRE(client.send(f.io, encode_netstring("QUERY a") + encode_netstring("QUERY b")));
  client.shutdown_write();
  REQUIRE(run_until(f.io, [&] { return f.handler.held.size() == 2; }));
  f.handler.held[1].done("OK b");
  f.handler.held[0].done("OK a");
  CHECK(client.reply(f.io) == "OK a");
  CHECK(client.reply(f.io) == "OK b");
  CHECK(client.closed_by_server(f.io));
  CHECK(f.count_is(0));
}

TEST_CASE("server: idle connections are closed after idle_timeout") {
  auto options = tcp_options();
  options.idle_timeout = 200ms;
  Fixture f(options);
  Client client(f.endpoint);
  REQUIRE(f.count_is(1));
  // Activity keeps it open past the timeout.
  const auto opened = std::chrono::steady_clock::now();
  for (int i = 0; i < 4; ++i) {
    run_for(f.io, 100ms);
    REQUIRE(client.send_request(f.io, "QUERY keep"));
    REQUIRE(client.reply(f.io) == "OK QUERY/keep");
  }
  CHECK(std::chrono::steady_clock::now() - opened >= 400ms);
  const auto last = std::chrono::steady_clock::now();
  CHECK(client.closed_by_server(f.io, 2000ms));
  const auto idle = std::chrono::steady_clock::now() - last;
  CHECK(idle >= 150ms);
  CHECK(idle < 1000ms);
  CHECK(f.count_is(0));
}

TEST_CASE("server: a request trickled byte by byte is closed after request_timeout") {
  auto options = tcp_options();
  options.idle_timeout = 60s;
  options.request_timeout = 300ms;
  Fixture f(options);
  Client slow(f.endpoint);
  Client quick(f.endpoint);
  REQUIRE(f.count_is(2));
  const std::string request = "16:QUERY slowloris1,";
  const auto started = std::chrono::steady_clock::now();
  // One byte every 50 ms: every byte is activity, so only request_timeout ends it.
  bool closed = false;
  for (std::size_t i = 0; i < request.size() && !closed; ++i) {
    closed = !slow.send(f.io, request.substr(i, 1));
    run_for(f.io, 50ms);
    closed = closed || f.server->connection_count() == 1;
  }
  CHECK(closed);
  const auto held = std::chrono::steady_clock::now() - started;
  CHECK(held >= 250ms);
  CHECK(held < 2000ms);
  // Others are served meanwhile and after.
  REQUIRE(quick.send_request(f.io, "QUERY fine"));
  CHECK(quick.reply(f.io) == "OK QUERY/fine");
}

TEST_CASE("server: pipelined requests straddling reads do not trip request_timeout") {
  auto options = tcp_options();
  options.request_timeout = 200ms;
  Fixture f(options);
  Client client(f.endpoint);
  // Each write completes one request and starts the next: the buffer is never
  // empty between reads, yet no single request is slow.
  REQUIRE(client.send(f.io, "7:QUERY a,7:QUE"));
  CHECK(client.reply(f.io) == "OK QUERY/a");
  for (int i = 0; i < 6; ++i) {
    run_for(f.io, 100ms);
    REQUIRE(client.send(f.io, "RY b,7:QUE"));
    CHECK(client.reply(f.io) == "OK QUERY/b");
  }
  CHECK(f.server->connection_count() == 1);
}

TEST_CASE("server: a connection waiting on its handler is not idle") {
  auto options = tcp_options();
  options.idle_timeout = 100ms;
  Fixture f(options);
  f.handler.hold = true;
  Client client(f.endpoint);
  REQUIRE(client.send_request(f.io, "QUERY slow"));
  REQUIRE(run_until(f.io, [&] { return f.handler.held.size() == 1; }));
  run_for(f.io, 300ms);
  CHECK(f.server->connection_count() == 1);
  f.handler.held[0].done("OK late");
  CHECK(client.reply(f.io) == "OK late");
  CHECK(client.closed_by_server(f.io, 2000ms));
}

TEST_CASE("server: a client that does not read its replies is closed after write_timeout") {
  auto options = tcp_options();
  options.write_timeout = 200ms;
  options.idle_timeout = 60s;
  Fixture f(options);
  f.handler.reply_size = 4 << 20;  // far more than the socket buffers hold
  Client client(f.endpoint, 4096);
  REQUIRE(f.count_is(1));
  REQUIRE(client.send_request(f.io, "QUERY big"));
  REQUIRE(run_until(f.io, [&] { return f.handler.calls == 1; }));
  const auto started = std::chrono::steady_clock::now();
  CHECK(f.count_is(0));
  const auto waited = std::chrono::steady_clock::now() - started;
  CHECK(waited >= 150ms);
  CHECK(waited < 2000ms);
}

TEST_CASE("server: max_connections refuses further connections") {
  auto options = tcp_options();
  options.max_connections = 2;
  Fixture f(options);
  Client first(f.endpoint);
  Client second(f.endpoint);
  REQUIRE(f.count_is(2));
  Client third(f.endpoint);
  CHECK(third.closed_by_server(f.io));
  CHECK(f.server->connection_count() == 2);

  REQUIRE(first.send_request(f.io, "QUERY one"));
  CHECK(first.reply(f.io) == "OK QUERY/one");
  second.reset();
  REQUIRE(f.count_is(1));
  Client fourth(f.endpoint);
  REQUIRE(fourth.send_request(f.io, "QUERY four"));
  CHECK(fourth.reply(f.io) == "OK QUERY/four");
}

TEST_CASE("server: running out of file descriptors neither spins nor stops accepting") {
  Fixture f;
  Client client(f.endpoint);  // connected in the kernel, not yet accepted
  REQUIRE(client.fd() >= 0);
  rlimit saved{};
  REQUIRE(::getrlimit(RLIMIT_NOFILE, &saved) == 0);
  const int lowest_free = ::dup(0);
  REQUIRE(lowest_free >= 0);
  ::close(lowest_free);
  rlimit tight = saved;
  tight.rlim_cur = static_cast<rlim_t>(lowest_free);  // accept() now fails with EMFILE
  REQUIRE(::setrlimit(RLIMIT_NOFILE, &tight) == 0);

  const std::size_t handlers = run_for(f.io, 300ms);
  REQUIRE(::setrlimit(RLIMIT_NOFILE, &saved) == 0);
  CHECK(f.server->connection_count() == 0);
  CHECK(handlers > 0);   // it did try
  CHECK(handlers < 20);  // but on a timer (every 100 ms), not in a loop

  REQUIRE(client.send_request(f.io, "QUERY after"));
  CHECK(client.reply(f.io) == "OK QUERY/after");
}

TEST_CASE("server: UNIX socket with the configured mode") {
  TempDir dir;
  const std::string path = dir.path.string() + "/mta-sts.sock";
  auto options = tcp_options();
  options.unix_path = path;
  options.unix_mode = 0660;
  Fixture f(options);
  CHECK(f.server->local_endpoints() == std::vector<std::string>{path});
  struct stat st {};
  REQUIRE(::stat(path.c_str(), &st) == 0);
  CHECK(S_ISSOCK(st.st_mode));
  CHECK((st.st_mode & 07777) == 0660);

  Client client(path);
  REQUIRE(client.fd() >= 0);
  REQUIRE(client.send_request(f.io, "QUERY example.org"));
  CHECK(client.reply(f.io) == "OK QUERY/example.org");

  f.server->stop_accepting();
  CHECK(::stat(path.c_str(), &st) != 0);  // removed
}

TEST_CASE("server: a stale UNIX socket file is replaced, anything else is refused") {
  TempDir dir;
  const std::string path = dir.path.string() + "/s";
  {
    // A socket file left behind by a process that is gone.
    const int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    std::strncpy(address.sun_path, path.c_str(), sizeof address.sun_path - 1);
    REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0);
    ::close(fd);
  }
  auto options = tcp_options();
  options.unix_path = path;
  Fixture f(options);
  Client client(path);
  REQUIRE(client.send_request(f.io, "QUERY x"));
  CHECK(client.reply(f.io) == "OK QUERY/x");

  // A second server on the same live path must not steal it.
  TestHandler other_handler;
  Server second(f.io, options, other_handler);
  CHECK_THROWS_AS(second.start(), std::runtime_error);

  const std::string file = dir.path.string() + "/regular";
  std::ofstream(file) << "not a socket";
  options.unix_path = file;
  Server third(f.io, options, other_handler);
  try {
    third.start();
    FAIL("start() should throw");
  } catch (const std::runtime_error& e) {
    CHECK(std::string(e.what()).find(file) != std::string::npos);
  }
  CHECK(std::filesystem::is_regular_file(file));
}

// Without IPv6 on the host these two are reported skipped (doctest's count), not passed.
TEST_CASE("server: IPv6 loopback" * doctest::skip(!ipv6_loopback_available())) {
  auto options = tcp_options();
  options.host = "::1";
  Fixture f(options);
  CHECK(f.endpoint.rfind("[::1]:", 0) == 0);
  Client client(f.endpoint);
  REQUIRE(client.fd() >= 0);
  REQUIRE(client.send_request(f.io, "QUERY v6.example"));
  CHECK(client.reply(f.io) == "OK QUERY/v6.example");
}

TEST_CASE("server: IPv4 and IPv6 wildcards coexist on one port" *
          doctest::skip(!ipv6_loopback_available())) {
  auto options = tcp_options();
  options.host = "0.0.0.0";
  options.reuse_port = false;
  Fixture v4(options);
  const auto port = split_endpoint(v4.endpoint).second;
  options.host = "::";
  options.port = static_cast<std::uint16_t>(std::stoi(port));
  TestHandler handler;
  Server v6(v4.io, options, handler);
  CHECK_NOTHROW(v6.start());
}

TEST_CASE("server: a name with several addresses binds them all on one port") {
  auto options = tcp_options();
  options.host = "localhost";
  Fixture f(options);
  const auto endpoints = f.server->local_endpoints();
  const auto port = split_endpoint(endpoints.front()).second;
  for (const auto& endpoint : endpoints) {
    CHECK(split_endpoint(endpoint).second == port);
    Client client(endpoint);
    REQUIRE(client.send_request(f.io, "QUERY " + endpoint));
    CHECK(client.reply(f.io) == "OK QUERY/" + endpoint);
  }
}

TEST_CASE("server: a busy port is reported with its address") {
  Fixture f;
  auto options = tcp_options();
  options.port = static_cast<std::uint16_t>(std::stoi(split_endpoint(f.endpoint).second));
  options.reuse_port = false;
  TestHandler handler;
  Server second(f.io, options, handler);
  try {
    second.start();
    FAIL("start() should throw");
  } catch (const std::runtime_error& e) {
    CHECK(std::string(e.what()).find(f.endpoint) != std::string::npos);
    CHECK(std::string(e.what()).find("in use") != std::string::npos);
  }
}

TEST_CASE("server: replies after the client left are harmless") {
  Fixture f;
  f.handler.hold = true;
  {
    Client client(f.endpoint);
    REQUIRE(client.send_request(f.io, "QUERY gone"));
    REQUIRE(run_until(f.io, [&] { return f.handler.held.size() == 1; }));
    client.abort();
  }
  REQUIRE(f.count_is(0));
  f.handler.held[0].done("OK nobody listens");
  f.handler.held[0].done("OK twice");
  run_for(f.io, 10ms);

  // A plain close looks like a client done sending: the answer is still written
  // (into the void), then the connection goes.
  {
    Client client(f.endpoint);
    REQUIRE(client.send_request(f.io, "QUERY closed"));
    REQUIRE(run_until(f.io, [&] { return f.handler.held.size() == 2; }));
  }
  run_for(f.io, 10ms);
  f.handler.held[1].done("OK nobody listens");
  CHECK(f.count_is(0));

  // And after the server itself is gone.
  Client client(f.endpoint);
  REQUIRE(client.send_request(f.io, "QUERY orphan"));
  REQUIRE(run_until(f.io, [&] { return f.handler.held.size() == 3; }));
  f.server.reset();
  f.handler.held[2].done("OK no server");
  run_for(f.io, 10ms);
  CHECK(client.closed_by_server(f.io));
}

TEST_CASE("server: a second reply to one request is ignored") {
  Fixture f;
  f.handler.hold = true;
  Client client(f.endpoint);
  REQUIRE(client.send(f.io, encode_netstring("QUERY a") + encode_netstring("QUERY b")));
  REQUIRE(run_until(f.io, [&] { return f.handler.held.size() == 2; }));
  f.handler.held[0].done("OK a");
  f.handler.held[0].done("OK a again");
  f.handler.held[1].done("OK b");
  CHECK(client.reply(f.io) == "OK a");
  CHECK(client.reply(f.io) == "OK b");
}

TEST_CASE("server: a throwing handler answers TEMP and the connection goes on") {
  Fixture f;
  Client client(f.endpoint);
  REQUIRE(client.send_request(f.io, "QUERY throw"));
  CHECK(client.reply(f.io) == "TEMP internal error");
  REQUIRE(client.send_request(f.io, "QUERY fine"));
  CHECK(client.reply(f.io) == "OK QUERY/fine");
}

TEST_CASE("server: stop_accepting refuses new clients and lets open ones finish") {
  Fixture f;
  f.handler.hold = true;
  Client open(f.endpoint);
  Client idle(f.endpoint);
  REQUIRE(open.send_request(f.io, "QUERY pending"));
  REQUIRE(run_until(f.io, [&] { return f.handler.held.size() == 1; }));
  REQUIRE(f.count_is(2));

  f.server->stop_accepting();
  CHECK(f.server->local_endpoints().empty());
  Client late(f.endpoint);
  CHECK(late.fd() < 0);
  CHECK(late.connect_errno() == ECONNREFUSED);

  CHECK(idle.closed_by_server(f.io));  // nothing owed: closed at once
  f.handler.held[0].done("OK finished");
  CHECK(open.reply(f.io) == "OK finished");
  CHECK(open.closed_by_server(f.io));
  CHECK(f.count_is(0));
}

TEST_CASE("server: close_all closes every connection now") {
  Fixture f;
  f.handler.hold = true;
  Client a(f.endpoint);
  Client b(f.endpoint);
  REQUIRE(a.send_request(f.io, "QUERY pending"));
  REQUIRE(f.count_is(2));
  REQUIRE(run_until(f.io, [&] { return f.handler.held.size() == 1; }));
  f.server->close_all();
  CHECK(f.server->connection_count() == 0);
  CHECK(a.closed_by_server(f.io));
  CHECK(b.closed_by_server(f.io));
  f.handler.held[0].done("OK too late");
  run_for(f.io, 10ms);
  // Still accepting.
  f.handler.hold = false;
  Client c(f.endpoint);
  REQUIRE(c.send_request(f.io, "QUERY new"));
  CHECK(c.reply(f.io) == "OK QUERY/new");
}
