#pragma once
// Records the store tests save and compare: a learned policy (parsed, as the
// resolver hands it to a store) and a DANE result, with times around now.
#include <doctest/doctest.h>

#include <chrono>
#include <cstdint>
#include <string>

#include "cache/cached_dane.hpp"
#include "cache/cached_policy.hpp"
#include "sts/policy.hpp"

namespace mtasts_test {

inline std::int64_t unix_now() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// An enforce policy fetched ten seconds ago, living max_age seconds.
inline mtasts::cache::CachedPolicy stored_policy(const std::string& domain,
                                                 std::int64_t max_age = 86400,
                                                 const std::string& txt_id = "20240101T000000") {
  mtasts::cache::CachedPolicy p;
  p.domain = domain;
  p.txt_id = txt_id;
  p.body = "version: STSv1\r\nmode: enforce\r\nmx: mx1." + domain + "\r\nmx: *.backup." + domain +
           "\r\nmax_age: " + std::to_string(max_age) + "\r\n";
  p.fetched_at = unix_now() - 10;
  p.checked_at = unix_now() - 5;
  p.expires_at = p.fetched_at + max_age;
  auto parsed = mtasts::sts::parse_policy(p.body);
  REQUIRE(parsed.policy);
  p.policy = *parsed.policy;
  return p;
}

// A DANE result looked up ten seconds ago: fresh for 300 s, kept an hour beyond.
inline mtasts::cache::CachedDane stored_dane(
    const std::string& destination, mtasts::dane::Level level = mtasts::dane::Level::dane_only) {
  mtasts::cache::CachedDane d;
  d.destination = destination;
  d.level = level;
  d.summary = "MX secure; mx1." + destination + ": TLSA 3 1 1 usable";
  d.fetched_at = unix_now() - 10;
  d.expires_at = d.fetched_at + 300;
  d.keep_until = d.expires_at + 3600;
  return d;
}

inline void check_same(const mtasts::cache::CachedPolicy& got,
                       const mtasts::cache::CachedPolicy& want) {
  CHECK(got.domain == want.domain);
  CHECK(got.txt_id == want.txt_id);
  CHECK(got.body == want.body);
  CHECK(got.fetched_at == want.fetched_at);
  CHECK(got.expires_at == want.expires_at);
  CHECK(got.checked_at == want.checked_at);
  // Parsed again on the way in (record_check.hpp), not taken on trust.
  CHECK(got.policy == want.policy);
}

inline void check_same(const mtasts::cache::CachedDane& got,
                       const mtasts::cache::CachedDane& want) {
  CHECK(got.destination == want.destination);
  CHECK(got.level == want.level);
  CHECK(got.summary == want.summary);
  CHECK(got.fetched_at == want.fetched_at);
  CHECK(got.expires_at == want.expires_at);
  CHECK(got.keep_until == want.keep_until);
}

}  // namespace mtasts_test
