// AcceptLoop, the accepting both servers share (socketmap's listeners, the
// daemon's control socket), over a real UNIX socket. Its back-off after EMFILE
// is driven through the socketmap server (test_server.cpp).
#include "socketmap/accept_loop.hpp"

#include <sys/stat.h>

#include <memory>
#include <string>
#include <vector>

#include <doctest/doctest.h>
#include <boost/asio/io_context.hpp>

#include "socket_harness.hpp"
#include "support/temp_dir.hpp"

namespace mtasts::socketmap {
namespace {

using namespace std::chrono_literals;
using mtasts_test::TempDir;
using test::Client;
using test::run_for;
using test::run_until;

bool exists(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0;
}

TEST_CASE("accept loop: every connection reaches take; one take does not keep is closed") {
  TempDir dir;
  const std::string path = dir.path.string() + "/accept.sock";
  boost::asio::io_context io;
  std::vector<Socket> kept;
  int offered = 0;
  auto loop =
      std::make_shared<AcceptLoop>(listen_unix(io, path, 0600u), "test",
                                   [&](const AcceptLoop& from, Socket& socket, const Endpoint&) {
                                     CHECK(from.name() == path);
                                     if (++offered == 1)
                                       kept.push_back(std::move(socket));  // the second is refused
                                   });
  loop->start();
  CHECK(loop->is_open());
  Client first(path);
  REQUIRE(run_until(io, [&] { return offered == 1; }));
  Client second(path);
  REQUIRE(run_until(io, [&] { return offered == 2; }));
  CHECK(second.closed_by_server(io));
  run_for(io, 20ms);
  CHECK(first.receive());  // still open: the one kept
  loop->close();
  CHECK_FALSE(loop->is_open());
  CHECK_FALSE(exists(path));  // the socket file we made is removed
}

TEST_CASE("accept loop: a take that closes the loop ends it; later clients are not accepted") {
  TempDir dir;
  const std::string path = dir.path.string() + "/accept.sock";
  boost::asio::io_context io;
  int offered = 0;
  AcceptLoop* closing = nullptr;
  // take closes its own loop, as a server stopping from within an accept would:
  // the loop lets go of take while it runs, and what take holds must outlive the call.
  auto owner = std::make_shared<int>(7);
  const std::weak_ptr<int> owner_alive = owner;
  auto loop = std::make_shared<AcceptLoop>(
      listen_unix(io, path, 0600u), "test",
      [&offered, &closing, owner](const AcceptLoop&, Socket&, const Endpoint&) {
        ++offered;
        closing->close();
        CHECK(*owner == 7);
      });
  closing = loop.get();
  owner.reset();
  loop->start();
  Client first(path);
  REQUIRE(run_until(io, [&] { return offered == 1; }));
  CHECK_FALSE(loop->is_open());
  CHECK(owner_alive.expired());  // released with take
  CHECK_FALSE(exists(path));
  Client second(path);
  CHECK(second.fd() < 0);  // nobody listens
  run_for(io, 20ms);
  CHECK(offered == 1);
}

}  // namespace
}  // namespace mtasts::socketmap
