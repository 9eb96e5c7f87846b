// control::dump: every JSON text the programs write goes through it, and it
// must always be valid JSON, whatever bytes a hostile record or request held.
#include <doctest/doctest.h>

#include <string>

#include "control/protocol.hpp"

using mtasts::control::dump;
using mtasts::control::Json;

namespace {

std::string dumped(std::string_view text) { return dump(Json(std::string(text))); }

// Parses again: the text is JSON and says what it did.
std::string reread(const std::string& json) { return Json::parse(json).get<std::string>(); }

}  // namespace

TEST_CASE("dump quotes and escapes what JSON requires") {
  CHECK(dumped("") == "\"\"");
  CHECK(dumped("plain") == "\"plain\"");
  CHECK(dumped("a\"b\\c") == "\"a\\\"b\\\\c\"");
  CHECK(dumped("l1\nl2\r\t") == "\"l1\\nl2\\r\\t\"");
  CHECK(dumped(std::string_view("\x01", 1)) == "\"\\u0001\"");
  CHECK(dumped(std::string_view("nul\0x", 5)) == "\"nul\\u0000x\"");
  CHECK(dump(Json{{"b", 1}, {"a", true}}) == "{\"b\":1,\"a\":true}");  // the order kept
}

TEST_CASE("dump keeps valid UTF-8 and replaces invalid bytes with U+FFFD") {
  const std::string replacement = "\xef\xbf\xbd";
  CHECK(dumped("RFC 8461 \xc2\xa7"
               "3.4") ==
        "\"RFC 8461 \xc2\xa7"
        "3.4\"");
  CHECK(dumped("\xf0\x9f\x93\xa7") == "\"\xf0\x9f\x93\xa7\"");
  for (std::string_view bad : {"\xff", "\xc3", "\xc0\xaf", "\xed\xa0\x80",
                               "a\xfe"
                               "b"}) {
    const std::string out = dumped(bad);
    CHECK(out.find(replacement) != std::string::npos);
    const std::string back = reread(out);  // throws if it is not valid JSON
    CHECK(back.find(std::string(bad)) == std::string::npos);
  }
  CHECK(reread(dumped("a\xfe"
                      "b")) == "a" + replacement + "b");
}

TEST_CASE("an unknown request is echoed short, quoted, every odd byte escaped") {
  const auto parsed =
      mtasts::control::parse_control_request(std::string("\x01\xff\"", 3) + std::string(500, 'x'));
  REQUIRE_FALSE(parsed.request.has_value());
  CHECK(parsed.error.find("\\u0001\\ufffd\\\"") != std::string::npos);
  CHECK(parsed.error.size() < 200);
  // The error reply holding it is JSON too.
  CHECK(Json::parse(mtasts::control::error_json(parsed.error))["error"] == parsed.error);
}

TEST_CASE("purge and prefetch replies name the domain and say what happened") {
  const Json purged = Json::parse(mtasts::control::purge_json("example.com", true));
  CHECK(purged["domain"] == "example.com");
  CHECK(purged["purged"] == true);
  CHECK(Json::parse(mtasts::control::purge_json("example.com", false))["purged"] == false);
  const Json prefetch = Json::parse(mtasts::control::prefetch_json("a\xff.test", false, true));
  CHECK(prefetch["domain"] == "a\xef\xbf\xbd.test");  // hostile bytes still make JSON
  CHECK(prefetch["started"] == false);
  CHECK(prefetch["cached"] == true);
}
