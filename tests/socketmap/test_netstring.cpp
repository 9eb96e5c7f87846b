#include "socketmap/netstring.hpp"

#include <doctest/doctest.h>

#include <string>
#include <vector>

using mtasts::socketmap::encode_netstring;
using mtasts::socketmap::NetstringError;
using mtasts::socketmap::NetstringReader;
using mtasts::socketmap::parse_request;

namespace {

// Drains every complete payload (copied: views die with the next call).
std::vector<std::string> drain(NetstringReader& reader) {
  std::vector<std::string> out;
  while (auto payload = reader.next()) {
    out.emplace_back(*payload);
  }
  return out;
}

NetstringError error_of(std::string_view bytes, std::size_t max = 100) {
  NetstringReader reader(max);
  reader.append(bytes);
  drain(reader);
  return reader.error();
}

}  // namespace

TEST_CASE("netstring: encoding") {
  CHECK(encode_netstring("hello") == "5:hello,");
  CHECK(encode_netstring("") == "0:,");
  CHECK(encode_netstring(std::string(12345, 'x')).substr(0, 6) == "12345:");
  std::string out = "1:a,";
  mtasts::socketmap::append_netstring(out, "OK secure");
  CHECK(out == "1:a,9:OK secure,");
}

TEST_CASE("netstring: round trips, including empty and binary payloads") {
  const std::vector<std::string> payloads = {
      "", "a", "QUERY example.com", std::string(1, '\0'), ",:,", std::string(100, 'z')};
  for (const auto& payload : payloads) {
    NetstringReader reader(100);
    reader.append(encode_netstring(payload));
    const auto got = reader.next();
    REQUIRE(got);
    CHECK(*got == payload);
    CHECK_FALSE(reader.next());
    CHECK(reader.error() == NetstringError::none);
    CHECK(reader.buffered() == 0);
  }
}

TEST_CASE("netstring: several frames in one append, in order") {
  NetstringReader reader(100);
  reader.append("3:abc,0:,5:hello,2:x");
  CHECK(drain(reader) == std::vector<std::string>{"abc", "", "hello"});
  CHECK(reader.error() == NetstringError::none);
  CHECK(reader.buffered() == 3);  // "2:x" waits for the rest
  reader.append("y,");
  CHECK(drain(reader) == std::vector<std::string>{"xy"});
  CHECK(reader.buffered() == 0);
}

TEST_CASE("netstring: a stream split at every pair of byte boundaries decodes the same") {
  const std::vector<std::string> payloads = {"QUERY example.com", "", "QUERY [mx.example]:25",
                                             std::string(12, 'k')};
  std::string stream;
  for (const auto& payload : payloads) {
    stream += encode_netstring(payload);
  }
  for (std::size_t first = 0; first <= stream.size(); ++first) {
    for (std::size_t second = first; second <= stream.size(); ++second) {
      NetstringReader reader(64);
      std::vector<std::string> got;
      for (auto piece : {std::string_view(stream).substr(0, first),
                         std::string_view(stream).substr(first, second - first),
                         std::string_view(stream).substr(second)}) {
        reader.append(piece);
        for (auto& payload : drain(reader)) {
          got.push_back(std::move(payload));
        }
      }
      REQUIRE_MESSAGE(got == payloads, "split at " << first << " and " << second);
      CHECK(reader.error() == NetstringError::none);
    }
  }
}

TEST_CASE("netstring: byte-at-a-time feeding") {
  const std::string stream = encode_netstring("QUERY a.example") + encode_netstring("QUERY b");
  NetstringReader reader(100);
  std::vector<std::string> got;
  for (char c : stream) {
    reader.append(std::string_view(&c, 1));
    for (auto& payload : drain(reader)) {
      got.push_back(std::move(payload));
    }
  }
  CHECK(got == std::vector<std::string>{"QUERY a.example", "QUERY b"});
}

TEST_CASE("netstring: malformed lengths are bad_length") {
  CHECK(error_of(":abc,") == NetstringError::bad_length);    // empty length
  CHECK(error_of("a:") == NetstringError::bad_length);       // non-digit
  CHECK(error_of("1a:a,") == NetstringError::bad_length);    // non-digit after a digit
  CHECK(error_of("-1:") == NetstringError::bad_length);      // no signs
  CHECK(error_of(" 1:a,") == NetstringError::bad_length);    // no leading space
  CHECK(error_of("01:a,") == NetstringError::bad_length);    // leading zero
  CHECK(error_of("00:,") == NetstringError::bad_length);     // zero written twice
  CHECK(error_of("3:abc,x") == NetstringError::bad_length);  // garbage after a good frame
  CHECK(error_of("0:,") == NetstringError::none);            // zero itself is fine
  CHECK(error_of("1") == NetstringError::none);              // incomplete, not wrong
  CHECK(error_of("0") == NetstringError::none);
}

TEST_CASE("netstring: a leading zero is refused before the colon arrives") {
  NetstringReader reader(100);
  reader.append("0");
  CHECK_FALSE(reader.next());
  CHECK(reader.error() == NetstringError::none);
  reader.append("5");
  CHECK_FALSE(reader.next());
  CHECK(reader.error() == NetstringError::bad_length);
}

TEST_CASE("netstring: missing comma") {
  CHECK(error_of("3:abcd") == NetstringError::missing_comma);
  CHECK(error_of("0:x") == NetstringError::missing_comma);
  CHECK(error_of("3:abc;") == NetstringError::missing_comma);
  CHECK(error_of("3:abc") == NetstringError::none);  // comma may still come
}

TEST_CASE("netstring: limits at exactly max and max+1") {
  const std::size_t max = 10;
  NetstringReader at_max(max);
  at_max.append(encode_netstring(std::string(max, 'a')));
  const auto got = at_max.next();
  REQUIRE(got);
  CHECK(got->size() == max);

  CHECK(error_of(encode_netstring(std::string(max + 1, 'a')), max) == NetstringError::too_long);
  CHECK(error_of("11:", max) == NetstringError::too_long);
  // More digits than the limit has: refused at the digit, not at the colon.
  CHECK(error_of("100", max) == NetstringError::too_long);
  CHECK(error_of("10", max) == NetstringError::none);

  NetstringReader zero(0);
  zero.append("0:,");
  CHECK(zero.next() == std::optional<std::string_view>(""));
  CHECK(error_of("1:", 0) == NetstringError::too_long);
}

TEST_CASE("netstring: a huge declared length is refused without waiting for its payload") {
  NetstringReader reader(10000);
  reader.append("99999999999999999999999999:");
  CHECK_FALSE(reader.next());
  CHECK(reader.error() == NetstringError::too_long);
  CHECK(reader.buffered() == 0);

  NetstringReader digits_only(10000);
  digits_only.append("123456");  // six digits cannot be at most 10000
  CHECK_FALSE(digits_only.next());
  CHECK(digits_only.error() == NetstringError::too_long);
  CHECK(digits_only.buffered() == 0);

  NetstringReader over_by_one(10000);
  over_by_one.append("10001:");
  CHECK_FALSE(over_by_one.next());
  CHECK(over_by_one.error() == NetstringError::too_long);
}

TEST_CASE("netstring: after an error the stream stays broken") {
  NetstringReader reader(100);
  reader.append("x");
  CHECK_FALSE(reader.next());
  CHECK(reader.error() == NetstringError::bad_length);
  reader.append("3:abc,");
  CHECK_FALSE(reader.next());
  CHECK(reader.error() == NetstringError::bad_length);
  CHECK(reader.buffered() == 0);
}

TEST_CASE("netstring: buffered bytes stay within one frame after draining") {
  const std::size_t max = 50;
  const std::size_t bound = max + 2 /* digits */ + 1 /* colon */;
  std::string stream;
  for (std::size_t n = 0; n <= max; ++n) {
    stream += encode_netstring(std::string(n, static_cast<char>('a' + n % 26)));
  }
  for (std::size_t chunk : {1u, 3u, 7u, 64u, 200u}) {
    NetstringReader reader(max);
    std::size_t frames = 0;
    for (std::size_t at = 0; at < stream.size(); at += chunk) {
      reader.append(std::string_view(stream).substr(at, chunk));
      while (auto payload = reader.next()) {
        CHECK(payload->size() == frames);
        ++frames;
      }
      CHECK(reader.buffered() <= bound);
    }
    CHECK(frames == max + 1);
    CHECK(reader.buffered() == 0);
  }
  // The longest legal partial frame: everything but the comma.
  NetstringReader reader(max);
  reader.append("50:" + std::string(50, 'p'));
  CHECK_FALSE(reader.next());
  CHECK(reader.error() == NetstringError::none);
  CHECK(reader.buffered() == 53);
}

TEST_CASE("netstring: error names") {
  CHECK(to_string(NetstringError::too_long) == "netstring too long");
  CHECK(to_string(NetstringError::bad_length) == "malformed netstring length");
  CHECK(to_string(NetstringError::missing_comma) == "netstring missing comma");
}

TEST_CASE("parse_request: NAME SP KEY") {
  auto request = parse_request("QUERY example.com");
  REQUIRE(request);
  CHECK(request->name == "QUERY");
  CHECK(request->key == "example.com");

  request = parse_request("QUERYwithTLSRPT [mx.example.org]:587");
  REQUIRE(request);
  CHECK(request->name == "QUERYwithTLSRPT");
  CHECK(request->key == "[mx.example.org]:587");

  request = parse_request("QUERY a b");  // only the first space separates
  REQUIRE(request);
  CHECK(request->key == "a b");

  request = parse_request("QUERY ");
  REQUIRE(request);
  CHECK(request->key.empty());

  CHECK_FALSE(parse_request("QUERY"));
  CHECK_FALSE(parse_request(" example.com"));
  CHECK_FALSE(parse_request(""));
}
