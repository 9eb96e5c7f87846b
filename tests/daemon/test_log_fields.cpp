// The journal's DOMAIN/ANSWER/REASON fields, read from the resolver's log lines.
#include <doctest/doctest.h>

#include "daemon/log_fields.hpp"

using mtasts::daemon::parse_log_fields;

TEST_CASE("log fields: answers with a reason") {
  auto f = parse_log_fields("example.com: NOTFOUND  (no TXT record)");
  CHECK(f.domain == "example.com");
  CHECK(f.answer == "NOTFOUND");
  CHECK(f.reason == "no TXT record");
  f = parse_log_fields(
      "mx.test: OK secure match=mail.mx.test servername=hostname (policy id=1 (cached))");
  CHECK(f.domain == "mx.test");
  CHECK(f.answer == "OK secure match=mail.mx.test servername=hostname");
  CHECK(f.reason == "policy id=1 (cached)");  // nested parentheses stay in the reason
  f = parse_log_fields("[mx.test]:587: dane-only (DANE secure)");
  CHECK(f.domain == "[mx.test]:587");
  CHECK(f.answer == "dane-only");
  CHECK(f.reason == "DANE secure");
}

TEST_CASE("log fields: other lines") {
  auto f = parse_log_fields("example.com: learned policy id=1 mode=enforce max_age=86400 mx=a");
  CHECK(f.domain == "example.com");
  CHECK(f.answer.empty());
  CHECK(f.reason.empty());
  f = parse_log_fields("socketmap: listening on 127.0.0.1:8461");
  CHECK(f.domain.empty());
  f = parse_log_fields("'bad key!': NOTFOUND (invalid key: x)");
  CHECK(f.domain.empty());  // not a domain
  CHECK(parse_log_fields("no colon here").domain.empty());
}
