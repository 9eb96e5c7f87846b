// postfix-mta-sts-resolver's cache entries (issue 13) turned into our records:
// the JSON exactly as its 1.1.2 and 1.5.0 write it (utils.parse_mta_sts_policy
// then json.dumps), and every kind of bad entry refused with a reason.
#include <doctest/doctest.h>

#include <string>

#include "cache/takeover_entry.hpp"
#include "sts/policy.hpp"

using mtasts::cache::rebuild_policy_text;
using mtasts::cache::take_over_entry;
using mtasts::cache::TakeoverEntry;

namespace {

constexpr std::int64_t kNow = 1'750'000'000;

// json.dumps(parse_mta_sts_policy(text)) for "version: STSv1\nmode: enforce\n
// mx: mail.example.com\nmx: *.backup.example.com\nmax_age: 86400\n" after
// resolver.py made max_age an int: the dict starts with "mx" (created first).
const std::string kEnforce =
    R"({"mx": ["mail.example.com", "*.backup.example.com"], "version": "STSv1", )"
    R"("mode": "enforce", "max_age": 86400})";

mtasts::cache::TakeoverResult take(const std::string& body, std::int64_t ts = kNow - 100,
                                   const std::string& domain = "example.com",
                                   const std::string& id = "20240101T000000") {
  return take_over_entry(TakeoverEntry{domain, ts, id, body}, kNow);
}

}  // namespace

TEST_CASE("an enforce entry becomes the record our store would hold") {
  const auto r = take(kEnforce);
  REQUIRE_MESSAGE(r.policy.has_value(), r.error);
  const auto& p = *r.policy;
  CHECK(p.domain == "example.com");
  CHECK(p.txt_id == "20240101T000000");
  CHECK(p.body ==
        "version: STSv1\nmode: enforce\nmx: mail.example.com\nmx: *.backup.example.com\n"
        "max_age: 86400\n");
  CHECK(p.fetched_at == kNow - 100);
  CHECK(p.checked_at == kNow - 100);
  CHECK(p.expires_at == kNow - 100 + 86400);
  CHECK(p.policy.mode == mtasts::sts::Mode::enforce);
  CHECK(p.policy.max_age == 86400);
  CHECK(p.policy.mx == std::vector<std::string>{"mail.example.com", "*.backup.example.com"});
}

TEST_CASE("the text is rebuilt in policy order, other keys after, empty lines left out") {
  // A text with blank lines and an extension key before max_age, fields out of
  // order: parse_mta_sts_policy kept the "" key of the blank line.
  const std::string body =
      R"({"mx": ["mx1.example.org", "MX2.Example.org."], "max_age": 604800, "": "", )"
      R"("x-note": "a value: with colon", "mode": "testing", "version": "STSv1"})";
  std::string error;
  const auto text = rebuild_policy_text(body, error);
  REQUIRE_MESSAGE(text.has_value(), error);
  CHECK(*text ==
        "version: STSv1\nmode: testing\nmx: mx1.example.org\nmx: MX2.Example.org.\n"
        "max_age: 604800\nx-note: a value: with colon\n");
  const auto r = take(body);
  REQUIRE_MESSAGE(r.policy.has_value(), r.error);
  CHECK(r.policy->policy.mode == mtasts::sts::Mode::testing);
  // Normalised as any fetched policy: lower case, no trailing dot, order kept.
  CHECK(r.policy->policy.mx == std::vector<std::string>{"mx1.example.org", "mx2.example.org"});
}

TEST_CASE("mode none with no mx, and the domain as a query key") {
  const auto r = take(R"({"mx": [], "version": "STSv1", "mode": "none", "max_age": 3600})", kNow,
                      "Example.NET.");
  REQUIRE_MESSAGE(r.policy.has_value(), r.error);
  CHECK(r.policy->domain == "example.net");
  CHECK(r.policy->policy.mode == mtasts::sts::Mode::none);
  CHECK(r.policy->expires_at == kNow + 3600);
}

TEST_CASE("an expired entry is reported expired, never revived") {
  const auto r = take(kEnforce, kNow - 86400);
  CHECK_FALSE(r.policy.has_value());
  CHECK(r.expired);
  CHECK(r.error.empty());
  CHECK(take(kEnforce, kNow - 86399).policy.has_value());
}

TEST_CASE("bad entries are refused with a reason naming what is wrong") {
  struct Case {
    std::string body;
    std::string reason;
  };
  const Case cases[] = {
      {R"({"mx": ["a.example"], "version": "STSv1", "mode": "enforce", "max_age": 8)",
       "pol_body is not JSON"},
      {"", "pol_body is not JSON"},
      {R"(["STSv1", "enforce"])", "pol_body is a JSON array, not an object"},
      {R"({"mx": ["a.example"], "version": "STSv1", "mode": "enforce", "max_age": -5})",
       "max_age -5 is not a whole number"},
      {R"({"mx": ["a.example"], "version": "STSv1", "mode": "enforce", "max_age": "86400"})",
       "max_age \"86400\" is not a whole number"},
      {R"({"mx": ["a.example"], "version": "STSv1", "mode": "enforce", "max_age": 31557601})",
       "max_age 31557601 is not a whole number"},
      {R"({"mx": ["a.example"], "version": "STSv1", "mode": "enforce", "max_age": 1.5})",
       "max_age 1.5 is not"},
      {R"({"mx": ["a.example"], "version": "STSv1", "mode": "enforce"})", "invalid policy"},
      {R"({"mx": "a.example", "version": "STSv1", "mode": "enforce", "max_age": 1})",
       "mx is a JSON string, not a list"},
      {R"({"mx": [1], "version": "STSv1", "mode": "enforce", "max_age": 1})",
       "mx holds something other than a one-line string"},
      // One more mx line smuggled in through a value.
      {R"({"mx": ["a.example"], "version": "STSv1", "mode": "enforce\nmx: evil.example", )"
       R"("max_age": 1})",
       "mode contains a line break"},
      {R"({"mx": ["a.example"], "version": "STSv1", "mode": "enforce", "max_age": 1, )"
       R"("x": "y\r\nmx: evil.example"})",
       "field 'x' contains a line break"},
      {R"({"mx": ["a.example"], "version": "STSv1", "mode": "enforce", "max_age": 1, "x": 2})",
       "field 'x' is a JSON number, not a string"},
      {R"({"mx": ["a.example"], "version": "STSv2", "mode": "enforce", "max_age": 1})",
       "invalid policy"},
      {R"({"mx": [], "version": "STSv1", "mode": "enforce", "max_age": 1})", "invalid policy"},
  };
  for (const auto& c : cases) {
    CAPTURE(c.body);
    const auto r = take(c.body);
    CHECK_FALSE(r.policy.has_value());
    CHECK_FALSE(r.expired);
    CHECK_MESSAGE(r.error.find(c.reason) != std::string::npos, r.error);
  }
}

TEST_CASE("a time in the future, a bad id or a bad domain are refused") {
  CHECK(take(kEnforce, kNow + 3600).error.find("in the future") != std::string::npos);
  CHECK(take(kEnforce, -1).error.find("negative") != std::string::npos);
  CHECK(take(kEnforce, kNow - 10, "example.com", "2024-01-01").error == "bad policy id");
  CHECK(take(kEnforce, kNow - 10, "example.com", "").error == "bad policy id");
  CHECK(take(kEnforce, kNow - 10, "[192.0.2.1]").error.find("not a policy domain") !=
        std::string::npos);
  CHECK(take(kEnforce, kNow - 10, "").error.find("not a policy domain") != std::string::npos);
}

TEST_CASE("hostile JSON: deep nesting and oversized bodies end in an error, not a crash") {
  const std::string deep(100000, '[');
  CHECK(take(deep).error.find("pol_body is not JSON") != std::string::npos);
  const std::string nested = std::string(50000, '[') + std::string(50000, ']');
  CHECK(take(nested).error.find("not an object") != std::string::npos);
  const std::string huge(mtasts::cache::kMaxTakeoverBody + 1, ' ');
  CHECK(take(huge).error.find("more than") != std::string::npos);
  CHECK(take("{\"mx\": [\"\xff\"]}").error.find("pol_body is not JSON") != std::string::npos);
}
