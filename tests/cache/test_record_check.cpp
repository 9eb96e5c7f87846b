// The one check every record read from a store passes (record_check.hpp):
// RFC 8461 §3.1/§3.2 bounds on policies, RFC 7672 result bounds on DANE.
#include <doctest/doctest.h>

#include <cstdint>
#include <string>

#include "cache/record_check.hpp"
#include "sts/policy.hpp"

using mtasts::cache::CachedDane;
using mtasts::cache::CachedPolicy;
using mtasts::cache::check_dane_record;
using mtasts::cache::check_policy_record;
using mtasts::cache::kMaxClockSkew;

namespace {

constexpr std::int64_t kNow = 1'800'000'000;

CachedPolicy record(const std::string& body, std::int64_t fetched_at = kNow - 100) {
  CachedPolicy p;
  p.domain = "example.com";
  p.txt_id = "20240101T000000";
  p.body = body;
  auto parsed = mtasts::sts::parse_policy(body);
  REQUIRE(parsed.policy);
  p.policy = *parsed.policy;
  p.fetched_at = fetched_at;
  p.checked_at = fetched_at;
  p.expires_at = fetched_at + p.policy.max_age;
  return p;
}

const std::string kEnforce = "version: STSv1\nmode: enforce\nmx: mx.example.com\nmax_age: 86400\n";

}  // namespace

TEST_CASE("record check: a record as fetched passes, and so does one adopted from its text") {
  const auto p = record(kEnforce);
  CHECK_FALSE(check_policy_record(p, kNow));
  auto text_only = p;
  text_only.policy = {};
  CHECK(mtasts::cache::check_policy_record(text_only, kNow).has_value());  // fields disagree
  CHECK_FALSE(mtasts::cache::adopt_policy_record(text_only, kNow));
  CHECK(text_only.policy == p.policy);
  // Memory drops the lines; the fields that answers are made of still agree.
  auto no_lines = p;
  no_lines.policy.lines.clear();
  CHECK_FALSE(check_policy_record(no_lines, kNow));
  // An expired record is still a genuine one: the resolver decides what expiry means.
  CHECK_FALSE(check_policy_record(p, p.expires_at + 1000));
}

TEST_CASE("record check: expiry never past fetched_at + max_age (RFC 8461 3.2)") {
  auto p = record("version: STSv1\nmode: enforce\nmx: mx.example.com\nmax_age: 1\n");
  p.expires_at = INT64_MAX;
  auto why = check_policy_record(p, kNow);
  REQUIRE(why);
  CHECK(why->find("max_age 1") != std::string::npos);
  p.expires_at = p.fetched_at + 2;
  CHECK(check_policy_record(p, kNow));
  p.expires_at = p.fetched_at + 1;
  CHECK_FALSE(check_policy_record(p, kNow));
  p.expires_at = p.fetched_at - 1;
  CHECK(check_policy_record(p, kNow));
  // The RFC's cap applies whatever the text says (parse_policy refuses more, too).
  auto year = record("version: STSv1\nmode: enforce\nmx: a.example\nmax_age: 31557600\n");
  CHECK_FALSE(check_policy_record(year, kNow));
  year.expires_at += 1;
  CHECK(check_policy_record(year, kNow));
}

TEST_CASE("record check: fetch and check times not in the future, within the clock skew") {
  auto p = record(kEnforce, kNow + kMaxClockSkew);
  CHECK_FALSE(check_policy_record(p, kNow));
  p = record(kEnforce, kNow + kMaxClockSkew + 1);
  auto why = check_policy_record(p, kNow);
  REQUIRE(why);
  CHECK(why->find("future") != std::string::npos);
  p = record(kEnforce);
  p.checked_at = kNow + 86400;  // would keep it from ever being checked again
  CHECK(check_policy_record(p, kNow));
  p = record(kEnforce);
  p.fetched_at = -5;
  CHECK(check_policy_record(p, kNow));
}

TEST_CASE("record check: the text must parse and agree with the parsed fields") {
  auto p = record(kEnforce);
  p.body = "version: STSv1\nmode: enforce\nmx: mx.example.com\n";  // no max_age
  CHECK(check_policy_record(p, kNow));
  CHECK(mtasts::cache::adopt_policy_record(p, kNow));

  auto lying = record("version: STSv1\nmode: none\nmax_age: 86400\n");
  lying.policy.mode = mtasts::sts::Mode::enforce;  // the stored mode is not the text's
  auto why = check_policy_record(lying, kNow);
  REQUIRE(why);
  CHECK(*why == "policy text says mode none, the record mode enforce");

  auto mx = record(kEnforce);
  mx.policy.mx = {"mx.attacker.example"};
  CHECK(check_policy_record(mx, kNow));
  auto age = record(kEnforce);
  age.policy.max_age = 31557600;
  CHECK(check_policy_record(age, kNow));
}

TEST_CASE("record check: a §3.1 id and a domain") {
  for (const char* id : {"", "a b", "a\rb", "id;", "123456789012345678901234567890123"}) {
    auto p = record(kEnforce);
    p.txt_id = id;
    CHECK_MESSAGE(check_policy_record(p, kNow), id);
  }
  auto p = record(kEnforce);
  p.domain.clear();
  CHECK(check_policy_record(p, kNow));
}

TEST_CASE("record check, DANE: times in order, not in the future, bounded") {
  CachedDane d;
  d.destination = "[mx.example.com]:25";
  d.level = mtasts::dane::Level::dane_only;
  d.fetched_at = kNow - 10;
  d.expires_at = d.fetched_at + 3600;
  d.keep_until = d.expires_at + 3600;
  CHECK_FALSE(check_dane_record(d, kNow));
  auto bad = d;
  bad.fetched_at = kNow + kMaxClockSkew + 1;
  bad.expires_at = bad.fetched_at + 60;
  bad.keep_until = bad.expires_at;
  CHECK(check_dane_record(bad, kNow));
  bad = d;
  bad.expires_at = bad.fetched_at - 1;
  CHECK(check_dane_record(bad, kNow));
  bad = d;
  bad.keep_until = bad.expires_at - 1;
  CHECK(check_dane_record(bad, kNow));
  bad = d;
  bad.expires_at = bad.fetched_at + mtasts::cache::kMaxDaneTtl + 1;
  bad.keep_until = bad.expires_at;
  CHECK(check_dane_record(bad, kNow));
  bad = d;
  bad.keep_until = INT64_MAX;  // a result kept forever
  CHECK(check_dane_record(bad, kNow));
  bad = d;
  bad.destination.clear();
  CHECK(check_dane_record(bad, kNow));
}

// Names are escaped with util::log_text (tests/util); the stores' own log lines
// are checked in test_redis_store and test_sqlite_store.
TEST_CASE("each rejection is logged once") {
  mtasts::cache::LogOnce once;
  CHECK(once.first("a.example", "bad id"));
  CHECK_FALSE(once.first("a.example", "bad id"));
  CHECK(once.first("a.example", "other reason"));
  CHECK(once.first("b.example", "bad id"));
}
