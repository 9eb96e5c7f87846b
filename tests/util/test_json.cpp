#include <doctest/doctest.h>

#include "util/json.hpp"

using mtasts::util::json_escape;

TEST_CASE("json_escape quotes and escapes what JSON requires") {
  CHECK(json_escape("") == "\"\"");
  CHECK(json_escape("plain") == "\"plain\"");
  CHECK(json_escape("a\"b\\c") == "\"a\\\"b\\\\c\"");
  CHECK(json_escape("l1\nl2\r\t") == "\"l1\\nl2\\r\\t\"");
  CHECK(json_escape(std::string_view("\x01\x7f", 2)) == "\"\\u0001\\u007f\"");
  CHECK(json_escape(std::string_view("nul\0x", 5)) == "\"nul\\u0000x\"");
}

TEST_CASE("json_escape keeps valid UTF-8 and replaces invalid bytes") {
  CHECK(json_escape("RFC 8461 \xc2\xa7" "3.4") == "\"RFC 8461 \xc2\xa7" "3.4\"");
  CHECK(json_escape("b\xc3\xbc" "cher.example") == "\"b\xc3\xbc" "cher.example\"");
  CHECK(json_escape("\xf0\x9f\x93\xa7") == "\"\xf0\x9f\x93\xa7\"");
  CHECK(json_escape("\xff") == "\"\\ufffd\"");
  CHECK(json_escape("\xc3") == "\"\\ufffd\"");                  // truncated
  CHECK(json_escape("\xc0\xaf") == "\"\\ufffd\\ufffd\"");       // overlong
  CHECK(json_escape("\xed\xa0\x80") == "\"\\ufffd\\ufffd\\ufffd\"");  // surrogate
}
