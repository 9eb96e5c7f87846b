// YAML 1.1 scalar reading as PyYAML does it, and nameserver syntax.
#include <doctest/doctest.h>

#include "config/nameserver.hpp"
#include "config/yaml_scalar.hpp"

using namespace mtasts::config;

TEST_CASE("YAML 1.1 null") {
  for (const char* text : {"", "~", "null", "Null", "NULL"}) CHECK(is_yaml_null(text));
  for (const char* text : {"nil", "none", "nULL", "0"}) CHECK_FALSE(is_yaml_null(text));
}

TEST_CASE("YAML 1.1 booleans, as PyYAML resolves them") {
  for (const char* text : {"yes", "Yes", "YES", "true", "True", "TRUE", "on", "On", "ON"})
    CHECK(parse_yaml_bool(text) == true);
  for (const char* text : {"no", "No", "NO", "false", "False", "FALSE", "off", "Off", "OFF"})
    CHECK(parse_yaml_bool(text) == false);
  // PyYAML leaves these as strings.
  for (const char* text : {"y", "n", "tRUE", "1", "0", "", "enabled"})
    CHECK_FALSE(parse_yaml_bool(text).has_value());
}

TEST_CASE("YAML 1.1 integers") {
  CHECK(parse_yaml_int("8461") == 8461);
  CHECK(parse_yaml_int("0") == 0);
  CHECK(parse_yaml_int("-12") == -12);
  CHECK(parse_yaml_int("+12") == 12);
  CHECK(parse_yaml_int("0666") == 0666);  // octal, the way PyYAML reads mode: 0666
  CHECK(parse_yaml_int("0o660") == 0660);
  CHECK(parse_yaml_int("0x1F") == 31);
  CHECK(parse_yaml_int("0b101") == 5);
  CHECK(parse_yaml_int("1_000") == 1000);
  CHECK(parse_yaml_int("9223372036854775807") == INT64_MAX);
  CHECK(parse_yaml_int("-9223372036854775808") == INT64_MIN);
  for (const char* text : {"", "-", "08", "0o8", "0x", "0b2", "12a", "4.0", "_1", "1 ", " 1",
                           "9223372036854775808", "99999999999999999999999", "0x_", "--1"})
    CHECK_MESSAGE(!parse_yaml_int(text).has_value(), text);
}

TEST_CASE("numbers: ints and decimal floats, never inf or nan") {
  CHECK(parse_yaml_number("4") == 4.0);
  CHECK(parse_yaml_number("2.5") == 2.5);
  CHECK(parse_yaml_number(".5") == 0.5);
  CHECK(parse_yaml_number("-1.5") == -1.5);
  CHECK(parse_yaml_number("1e3") == 1000.0);
  CHECK(parse_yaml_number("1.0e+2") == 100.0);
  CHECK(parse_yaml_number("010") == 8.0);  // YAML 1.1 octal
  for (const char* text : {"", ".", "inf", ".inf", "-.inf", "nan", ".nan", "0x1p3", "1e999", "4s",
                           "e3", "+-1", "1..2", "four"})
    CHECK_MESSAGE(!parse_yaml_number(text).has_value(), text);
}

TEST_CASE("nameserver syntax") {
  auto ns = parse_nameserver("192.0.2.1");
  REQUIRE(ns);
  CHECK(ns->address == "192.0.2.1");
  CHECK(ns->port == 53);
  CHECK_FALSE(ns->ipv6);

  ns = parse_nameserver("127.0.0.1:5353");
  REQUIRE(ns);
  CHECK(ns->address == "127.0.0.1");
  CHECK(ns->port == 5353);

  ns = parse_nameserver("[::1]:5353");
  REQUIRE(ns);
  CHECK(ns->address == "::1");
  CHECK(ns->port == 5353);
  CHECK(ns->ipv6);

  ns = parse_nameserver("2001:db8::53");
  REQUIRE(ns);
  CHECK(ns->address == "2001:db8::53");
  CHECK(ns->port == 53);

  ns = parse_nameserver("[2001:db8::53]");
  REQUIRE(ns);
  CHECK(ns->port == 53);

  for (const char* text :
       {"", "dns.example", "127.0.0.1:", "127.0.0.1:0", "127.0.0.1:65536", "127.0.0.1:53x",
        "127.0.0.1:-53", "127.0.0.1:+53", "256.0.0.1", "[::1", "[::1]53", "[127.0.0.1]:53", "[]:53",
        "::1:53:", "[::1]:", "1.2.3", " 127.0.0.1", "127.0.0.1 ", "fe80::1%eth0"})
    CHECK_MESSAGE(!parse_nameserver(text).has_value(), text);
  CHECK_FALSE(parse_nameserver(std::string_view("127.0.0.1\0:99", 13)).has_value());
}
