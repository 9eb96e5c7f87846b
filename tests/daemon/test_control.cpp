// The control channel's pure parts: request lines, the JSON it writes, the
// client-side splitter for list replies, and where the socket goes.
#include <doctest/doctest.h>

#include <cstdlib>
#include <string>
#include <vector>

#include "daemon/control.hpp"

using namespace mtasts::daemon;
using namespace mtasts::control;
using Command = ControlRequest::Command;

TEST_CASE("control requests: commands and arguments") {
  auto ok = [](std::string_view line) {
    auto parsed = parse_control_request(line);
    REQUIRE_MESSAGE(parsed.request.has_value(), parsed.error);
    return *parsed.request;
  };
  CHECK(ok("list").command == Command::list);
  CHECK(ok("stats\r").command == Command::stats);
  CHECK(ok("alarms").command == Command::alarms);
  CHECK(ok("  list \t").command == Command::list);
  auto show = ok("show Example.COM.");
  CHECK(show.command == Command::show);
  CHECK(show.argument == "Example.COM.");  // normalised later, with parse_query_key
  CHECK(ok("purge\texample.net").command == Command::purge);
  CHECK(ok("prefetch   a.test  \r").argument == "a.test");
  CHECK(ok("export").command == Command::export_);
  CHECK(ok("import\r").command == Command::import_);
}

TEST_CASE("control requests: garbage is an error, never a request") {
  auto error = [](std::string_view line) {
    auto parsed = parse_control_request(line);
    CHECK_FALSE(parsed.request.has_value());
    return parsed.error;
  };
  CHECK(error("") == "empty request");
  CHECK(error(" \r") == "empty request");
  CHECK(error("show") == "usage: show DOMAIN");
  CHECK(error("purge a.test b.test") == "purge takes one domain");
  CHECK(error("list everything") == "list takes no argument");
  CHECK(error("alarms a.test") == "alarms takes no argument");
  // An import's payload follows on the next lines, never on the request line.
  CHECK(error("import {}") == "import takes no argument");
  CHECK(error("LIST").find("unknown command \"LIST\"") == 0);
  // Hostile bytes are escaped and cut short in the message.
  const std::string junk = error(std::string("\x01\xff\"", 3) + std::string(500, 'x'));
  CHECK(junk.find("\\u0001\\ufffd\\\"") != std::string::npos);  // not UTF-8: U+FFFD
  CHECK(junk.size() < 200);
  CHECK(error(std::string("li\0st", 5)).find("unknown command") == 0);
}

TEST_CASE("a cached policy as JSON") {
  mtasts::cache::CachedPolicy p;
  p.domain = "example.com";
  p.txt_id = "20240101";
  p.policy.mode = mtasts::sts::Mode::testing;
  p.policy.max_age = 86400;
  p.policy.mx = {"mx1.example.com", "*.example.net"};
  p.fetched_at = 1700000000;
  p.expires_at = 1700086400;
  p.checked_at = 1700000100;
  CHECK(policy_json(p) ==
        "{\"domain\":\"example.com\",\"mode\":\"testing\",\"id\":\"20240101\","
        "\"fetched\":1700000000,\"expires\":1700086400,\"checked\":1700000100,"
        "\"max_age\":86400,\"mx\":[\"mx1.example.com\",\"*.example.net\"],"
        "\"source\":\"memory\"}");
  p.policy.mx.clear();
  p.policy.mode = mtasts::sts::Mode::none;
  CHECK(policy_json(p, "store").find("\"mode\":\"none\"") != std::string::npos);
  CHECK(policy_json(p).find("\"mx\":[]") != std::string::npos);
  CHECK(policy_json(p, "store").find("\"source\":\"store\"}") != std::string::npos);
  CHECK(error_json("bad \"x\"\n") == "{\"error\":\"bad \\\"x\\\"\\n\"}");
}

TEST_CASE("list replies split into elements, fed in any pieces") {
  const std::string reply =
      "{\"policies\": [{\"domain\": \"a.test\", \"mx\": [\"m\"]}, "
      "{\"domain\": \"b}]\\\"{[.test\", \"mx\": []}], \"negative\": 3}\n";
  for (std::size_t piece : {std::size_t{1}, std::size_t{2}, std::size_t{7}, reply.size()}) {
    CAPTURE(piece);
    JsonArrayElements splitter;
    std::vector<std::string> elements;
    for (std::size_t at = 0; at < reply.size(); at += piece) {
      for (auto& e : splitter.feed(std::string_view(reply).substr(at, piece))) {
        elements.push_back(std::move(e));
      }
    }
    REQUIRE(elements.size() == 2);
    CHECK(elements[0] == "{\"domain\": \"a.test\", \"mx\": [\"m\"]}");
    CHECK(elements[1] == "{\"domain\": \"b}]\\\"{[.test\", \"mx\": []}");
    CHECK(splitter.rest() == "{\"policies\": [ ], \"negative\": 3}\n");
  }
  JsonArrayElements error;
  CHECK(error.feed("{\"error\": \"x\"}\n").empty());
  CHECK(error.rest() == "{\"error\": \"x\"}\n");
}

TEST_CASE("control socket path: none, explicit, default") {
  mtasts::config::Config config;
  config.control_socket = "none";
  CHECK(control_socket_path(config).empty());
  config.control_socket = "/tmp/x/control.sock";
  CHECK(control_socket_path(config) == "/tmp/x/control.sock");
  config.control_socket.clear();
  ::setenv("RUNTIME_DIRECTORY", "/run/a:/run/b", 1);
  CHECK(control_socket_path(config) == "/run/a/control.sock");
  ::unsetenv("RUNTIME_DIRECTORY");
  const std::string fallback = default_control_socket_path();
  CHECK((fallback == "/run/mta-stsd/control.sock" || fallback == "var/mta-stsd/control.sock"));
}
