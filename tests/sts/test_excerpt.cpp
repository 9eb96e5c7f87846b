// Error strings quote hostile input: printable, short.
#include <doctest/doctest.h>

#include <string>

#include "sts/excerpt.hpp"

using mtasts::sts::excerpt;
using mtasts::sts::kExcerptLimit;
using namespace std::string_literals;

TEST_CASE("excerpt: printable, escaped, bounded") {
  CHECK(excerpt("") == "");
  CHECK(excerpt("mx: a.example") == "mx: a.example");
  CHECK(excerpt("a\0b"s) == "a\\x00b");
  CHECK(excerpt("\r\n\t\x7f\xff") == "\\x0d\\x0a\\x09\\x7f\\xff");
  CHECK(excerpt("a\\x41") == "a\\x5cx41");  // a literal backslash cannot fake an escape
  CHECK(excerpt(std::string(kExcerptLimit, 'a')) == std::string(kExcerptLimit, 'a'));
  CHECK(excerpt(std::string(kExcerptLimit + 1, 'a')) == std::string(kExcerptLimit, 'a') + "...");
  CHECK(excerpt(std::string(1000000, '\0')) == [] {
    std::string expected;
    for (std::size_t i = 0; i < kExcerptLimit / 4; ++i) expected += "\\x00";
    return expected + "...";
  }());
}
