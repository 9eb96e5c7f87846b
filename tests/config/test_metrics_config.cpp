#include <doctest/doctest.h>

#include "config/listen_address.hpp"
#include "config_test_util.hpp"

using mtasts::config::default_config_yaml;
using mtasts::config::parse_listen_address;
using mtasts::config::test::error_of;
using mtasts::config::test::load;

TEST_CASE("metrics.listen: off by default, an address and port, or empty") {
  CHECK(load("").config.metrics.listen.empty());
  CHECK(load("metrics:\n").config.metrics.listen.empty());
  CHECK(load("metrics:\n  listen: 127.0.0.1:9461\n").config.metrics.listen == "127.0.0.1:9461");
  CHECK(load("metrics:\n  listen: '[::1]:9461'\n").config.metrics.listen == "[::1]:9461");
  CHECK(load("metrics:\n  listen: \"\"\n").config.metrics.listen.empty());
  // The embedded file shows the key, off.
  CHECK(default_config_yaml().find("\nmetrics:") != std::string::npos);
  CHECK(default_config_yaml().find("\n  listen: \"\"  ") != std::string::npos);
  CHECK(load(default_config_yaml()).config.metrics.listen.empty());
}

TEST_CASE("metrics.listen: what is refused, with the key and line named") {
  const std::string expected =
      "test.yml:2: metrics.listen: must be ADDR:PORT or [IPV6]:PORT with a literal IP address "
      "and a port, e.g. 127.0.0.1:9461 (empty: off)";
  for (const char* bad :
       {"127.0.0.1", "localhost:9461", "127.0.0.1:0", "127.0.0.1:65536", "127.0.0.1:x", "::1:9461",
        "[::1]", "[::1]9461", "[127.0.0.1]:9461", ":9461", "999.0.0.1:9461"}) {
    CAPTURE(bad);
    CHECK(error_of(std::string("metrics:\n  listen: '") + bad + "'\n").starts_with(expected));
  }
  CHECK(error_of("metrics: 9461\n") == "test.yml:1: metrics: must be a map of keys (got 9461)");
}

TEST_CASE("parse_listen_address") {
  const auto v4 = parse_listen_address("0.0.0.0:9461");
  REQUIRE(v4);
  CHECK(v4->address == "0.0.0.0");
  CHECK(v4->port == 9461);
  const auto v6 = parse_listen_address("[::]:1");
  REQUIRE(v6);
  CHECK(v6->address == "::");
  CHECK(v6->port == 1);
  CHECK_FALSE(parse_listen_address(""));
  CHECK_FALSE(parse_listen_address("::"));
}
