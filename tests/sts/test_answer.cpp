// Socketmap answers for Postfix's smtp_tls_policy_maps: exact strings.
#include <doctest/doctest.h>

#include <string>

#include "sts/answer.hpp"
#include "sts/policy.hpp"

using mtasts::sts::AnswerOptions;
using mtasts::sts::kNotFound;
using mtasts::sts::Mode;
using mtasts::sts::parse_policy;
using mtasts::sts::Policy;
using mtasts::sts::render_policy_answer;

namespace {

Policy policy_of(std::string_view body) {
  const auto result = parse_policy(body);
  REQUIRE_MESSAGE(result.policy.has_value(), result.error);
  return *result.policy;
}

const std::string kRfcExample =
    "version: STSv1\r\n"
    "mode: enforce\r\n"
    "mx: mail.example.com\r\n"
    "mx: *.example.net\r\n"
    "mx: backupmx.example.com\r\n"
    "max_age: 604800\r\n";

AnswerOptions options(bool strict_testing, bool require_sni, bool tlsrpt) {
  AnswerOptions o;
  o.strict_testing = strict_testing;
  o.require_sni = require_sni;
  o.tlsrpt = tlsrpt;
  return o;
}

}  // namespace

TEST_CASE("answer: enforce") {
  const Policy policy = policy_of(kRfcExample);
  CHECK(render_policy_answer(policy, "example.com", {}) ==
        "OK secure match=mail.example.com:.example.net:backupmx.example.com "
        "servername=hostname");
  CHECK(render_policy_answer(policy, "example.com", options(false, false, false)) ==
        "OK secure match=mail.example.com:.example.net:backupmx.example.com");
  CHECK(render_policy_answer(policy, "example.com", options(true, true, false)) ==
        "OK secure match=mail.example.com:.example.net:backupmx.example.com "
        "servername=hostname");
}

TEST_CASE("answer: patterns lower-cased, no trailing dot, policy order, no duplicates") {
  const Policy policy = policy_of(
      "version: STSv1\nmode: enforce\nmax_age: 60\n"
      "mx: *.Example.NET.\nmx: MX.example.com\nmx: *.example.net\nmx: mx.example.com.\n");
  CHECK(render_policy_answer(policy, "example.com", options(false, false, false)) ==
        "OK secure match=.example.net:mx.example.com");
  // A Policy not made by parse_policy (e.g. read from a cache) is normalized too,
  // and patterns Postfix could not parse are dropped.
  Policy raw;
  raw.mode = Mode::enforce;
  raw.mx = {"B.example.", "b.example", "bad pattern", "x,y.example", "a:b", "*.C.example"};
  CHECK(render_policy_answer(raw, "example", options(false, true, false)) ==
        "OK secure match=b.example:.c.example servername=hostname");
  raw.mx = {"bad pattern", "*"};
  CHECK(render_policy_answer(raw, "example", {}) == kNotFound);
  raw.mx.clear();
  CHECK(render_policy_answer(raw, "example", {}) == kNotFound);
}

TEST_CASE("answer: testing and none") {
  const Policy testing = policy_of("version: STSv1\nmode: testing\nmx: mx.example\nmax_age: 1\n");
  CHECK(render_policy_answer(testing, "example", {}) == "NOTFOUND ");
  CHECK(render_policy_answer(testing, "example", options(false, true, true)) == "NOTFOUND ");
  CHECK(render_policy_answer(testing, "example", options(true, true, false)) ==
        "OK secure match=mx.example servername=hostname");
  CHECK(render_policy_answer(testing, "example", options(true, false, false)) ==
        "OK secure match=mx.example");

  const Policy none = policy_of("version: STSv1\nmode: none\nmax_age: 1\n");
  CHECK(render_policy_answer(none, "example", {}) == "NOTFOUND ");
  CHECK(render_policy_answer(none, "example", options(true, true, true)) == "NOTFOUND ");
  const Policy none_mx = policy_of("version: STSv1\nmode: none\nmx: mx.example\nmax_age: 1\n");
  CHECK(render_policy_answer(none_mx, "example", options(true, true, true)) == "NOTFOUND ");
  CHECK(kNotFound == "NOTFOUND ");
}

TEST_CASE("answer: TLSRPT attributes (Postfix >= 3.10)") {
  const Policy policy = policy_of(kRfcExample);
  CHECK(render_policy_answer(policy, "example.com", options(false, true, true)) ==
        "OK secure match=mail.example.com:.example.net:backupmx.example.com servername=hostname"
        " policy_type=sts policy_domain=example.com"
        " mx_host_pattern=mail.example.com mx_host_pattern=*.example.net"
        " mx_host_pattern=backupmx.example.com"
        " { policy_string = version: STSv1 } { policy_string = mode: enforce }"
        " { policy_string = mx: mail.example.com } { policy_string = mx: *.example.net }"
        " { policy_string = mx: backupmx.example.com } { policy_string = max_age: 604800 }");
  CHECK(render_policy_answer(policy, "Example.COM.", options(false, false, true)) ==
        "OK secure match=mail.example.com:.example.net:backupmx.example.com"
        " policy_type=sts policy_domain=example.com"
        " mx_host_pattern=mail.example.com mx_host_pattern=*.example.net"
        " mx_host_pattern=backupmx.example.com"
        " { policy_string = version: STSv1 } { policy_string = mode: enforce }"
        " { policy_string = mx: mail.example.com } { policy_string = mx: *.example.net }"
        " { policy_string = mx: backupmx.example.com } { policy_string = max_age: 604800 }");
}

TEST_CASE("answer: policy_string keeps lines as fetched, leaves out braces") {
  const Policy policy = policy_of(
      "version:STSv1\n\nmode:  testing  \nmx: MX.Example.\nmx: mx.example\n"
      "note: {curly}\nother: a}b\nmax_age: 86400\n\n");
  CHECK(render_policy_answer(policy, "example", options(true, false, true)) ==
        "OK secure match=mx.example policy_type=sts policy_domain=example"
        " mx_host_pattern=mx.example"
        " { policy_string = version:STSv1 } { policy_string = mode:  testing   }"
        " { policy_string = mx: MX.Example. } { policy_string = mx: mx.example }"
        " { policy_string = max_age: 86400 }");
}

TEST_CASE("answer: an invalid policy_domain drops only the TLSRPT attributes") {
  const Policy policy = policy_of("version: STSv1\nmode: enforce\nmx: mx.example\nmax_age: 1\n");
  CHECK(render_policy_answer(policy, "", options(false, true, true)) ==
        "OK secure match=mx.example servername=hostname");
  CHECK(render_policy_answer(policy, "bad domain", options(false, true, true)) ==
        "OK secure match=mx.example servername=hostname");
  CHECK(render_policy_answer(policy, "192.0.2.1", options(false, true, true)) ==
        "OK secure match=mx.example servername=hostname");
}
