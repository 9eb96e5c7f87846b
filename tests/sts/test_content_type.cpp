// RFC 8461 §3.2: the policy is served as text/plain.
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "sts/content_type.hpp"

using mtasts::sts::is_text_plain;
using namespace std::string_literals;

TEST_CASE("content type: text/plain with any case, whitespace and parameters") {
  for (const char* value :
       {"text/plain", "TEXT/PLAIN", "Text/Plain", " text/plain ", "\ttext/plain\t",
        "text/plain;charset=utf-8", "text/plain; charset=utf-8", "text/plain ; charset=UTF-8",
        "text/plain; charset=us-ascii; format=flowed", "text/plain;", "  text/plain  ;x=y"}) {
    INFO(value);
    CHECK(is_text_plain(value));
  }
}

TEST_CASE("content type: anything else") {
  for (const std::string& value : std::vector<std::string>{
           "", " ", ";", "text/plainx", "text/plai", "text/html", "text/plain/x", "text /plain",
           "text/ plain", "text", "plain", "textplain", "application/octet-stream",
           "text/html; charset=utf-8", "xtext/plain", "text/plain,text/html", "text/plain\0"s,
           "text/pl\xc3\xa1in", "; text/plain"}) {
    INFO(value);
    CHECK_FALSE(is_text_plain(value));
  }
}
