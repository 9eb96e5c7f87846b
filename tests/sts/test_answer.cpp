// Socketmap answers for Postfix's smtp_tls_policy_maps: exact strings.
#include <doctest/doctest.h>

#include <cstddef>
#include <string>
#include <vector>

#include "sts/answer.hpp"
#include "sts/policy.hpp"
#include "sts/rfc8461_example.hpp"

using mtasts::sts::AnswerOptions;
using mtasts::sts::describe_capped_answer;
using mtasts::sts::kMaxAnswerBytes;
using mtasts::sts::kNotFound;
using mtasts::sts::Mode;
using mtasts::sts::parse_policy;
using mtasts::sts::Policy;
using mtasts::sts::render_policy_answer;
using mtasts::sts::render_policy_answer_checked;
using mtasts::sts::RenderedAnswer;
using mtasts::sts::testing::kRfcExample;

namespace {

Policy policy_of(std::string_view body) {
  const auto result = parse_policy(body);
  REQUIRE_MESSAGE(result.policy.has_value(), result.error);
  return *result.policy;
}

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
        " { policy_string = version:STSv1 } { policy_string = mode:  testing }"
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

TEST_CASE("answer: trailing whitespace on a policy line is not part of it (§3.2)") {
  // sts-policy-record = sts-policy-field *WSP *(sts-policy-term sts-policy-field *WSP):
  // the line is valid and its field is all of it but the trailing WSP. An HTAB
  // there cost the line its policy_string (a CTL inside `{ }`).
  const Policy policy = policy_of(
      "version: STSv1\t\r\nmode: enforce \t \r\nmx: mx.example\t\nmx: *.mx.example  \n"
      "max_age: 86400\t\t\n");
  CHECK(policy.lines == std::vector<std::string>{"version: STSv1", "mode: enforce",
                                                 "mx: mx.example", "mx: *.mx.example",
                                                 "max_age: 86400"});
  CHECK(render_policy_answer(policy, "example", options(false, false, true)) ==
        "OK secure match=mx.example:.mx.example policy_type=sts policy_domain=example"
        " mx_host_pattern=mx.example mx_host_pattern=*.mx.example"
        " { policy_string = version: STSv1 } { policy_string = mode: enforce }"
        " { policy_string = mx: mx.example } { policy_string = mx: *.mx.example }"
        " { policy_string = max_age: 86400 }");
  // A Policy whose lines were not trimmed (built elsewhere, e.g. read from a cache)
  // gives the same answer.
  Policy raw = policy;
  raw.lines = {"version: STSv1\t", "mode: enforce \t ", "mx: mx.example\t", "mx: *.mx.example  ",
               "max_age: 86400\t\t"};
  CHECK(render_policy_answer(raw, "example", options(false, false, true)) ==
        render_policy_answer(policy, "example", options(false, false, true)));
}

namespace {

// A valid policy body with `count` mx lines of `name_length` octets each
// (mxNNNNN.aaa...example), "*." on every third.
std::string many_mx_policy(std::size_t count, std::size_t name_length) {
  std::string body = "version: STSv1\r\nmode: enforce\r\n";
  for (std::size_t i = 0; i < count; ++i) {
    std::string name = "mx" + std::to_string(100000 + i) + ".";
    name += std::string(name_length - name.size() - 8, 'a') + ".example";
    body += (i % 3 == 0 ? "mx: *." : "mx: ") + name + "\r\n";
  }
  return body + "max_age: 604800\r\n";
}

AnswerOptions tlsrpt_zone() { return options(false, true, true); }

AnswerOptions plain_zone() { return options(false, true, false); }

}  // namespace

TEST_CASE("answer: never longer than Postfix's socketmap_max_reply_size") {
  CHECK(kMaxAnswerBytes == 100000);
  CHECK(AnswerOptions{}.max_answer_bytes == kMaxAnswerBytes);

  SUBCASE("1,000 mx lines in a tlsrpt zone: policy_string dropped") {
    // Issue 16: a valid 26 KB policy with 1,000 mx lines gave a 106,181-byte
    // answer; Postfix's socketmap client reads 100,000 ("input exceeds size limit").
    const std::string body = many_mx_policy(1000, 24);
    CHECK(body.size() < 64 * 1024);
    const Policy policy = policy_of(body);
    REQUIRE(policy.mx.size() == 1000);
    const std::string bare = render_policy_answer(policy, "example", plain_zone());

    const RenderedAnswer rendered = render_policy_answer_checked(policy, "example", tlsrpt_zone());
    CHECK(rendered.text.size() <= 100000);
    CHECK(rendered.full_bytes > 100000);
    CHECK(rendered.text.starts_with(bare));  // the whole "OK secure match=..." list
    CHECK(rendered.text.starts_with("OK secure match=.mx100000.aaaaaaa.example:"));
    CHECK(rendered.dropped_policy_strings);
    CHECK_FALSE(rendered.dropped_mx_patterns);
    CHECK_FALSE(rendered.too_large);
    CHECK(rendered.capped());
    CHECK(rendered.text.substr(bare.size())
              .starts_with(" policy_type=sts policy_domain=example mx_host_pattern=*.mx100000."));
    CHECK(rendered.text.find("policy_string") == std::string::npos);
    CHECK(rendered.text.find(" mx_host_pattern=*.mx100000.aaaaaaa.example") != std::string::npos);
    CHECK(rendered.text.ends_with(" mx_host_pattern=*.mx100999.aaaaaaa.example"));
    // The signature the resolver calls gives the capped text.
    CHECK(render_policy_answer(policy, "example", tlsrpt_zone()) == rendered.text);
    CHECK(describe_capped_answer(rendered, "example", tlsrpt_zone()) ==
          "answer for example would be " + std::to_string(rendered.full_bytes) +
              " bytes, over the 100000-byte socketmap reply limit (Postfix "
              "socketmap_max_reply_size): dropped its policy_string (TLSRPT) attributes");
  }

  SUBCASE("a policy near 64 KiB: mx_host_pattern dropped too, with policy_type/domain") {
    const std::string body = many_mx_policy(1000, 58);
    CHECK(body.size() < 64 * 1024);
    const Policy policy = policy_of(body);
    const std::string bare = render_policy_answer(policy, "example", plain_zone());
    CHECK(bare.size() < 100000);
    const RenderedAnswer rendered = render_policy_answer_checked(policy, "example", tlsrpt_zone());
    // Postfix 3.10 before HISTORY 20251027 crashed on policy_type=sts with neither
    // policy_string nor mx_host_pattern: none of the TLSRPT attributes stay.
    CHECK(rendered.text == bare);
    CHECK(rendered.dropped_policy_strings);
    CHECK(rendered.dropped_mx_patterns);
    CHECK_FALSE(rendered.too_large);
    CHECK(rendered.full_bytes > 200000);
    CHECK(describe_capped_answer(rendered, "example", tlsrpt_zone())
              .ends_with("dropped its policy_string and mx_host_pattern (TLSRPT) attributes"));
  }

  SUBCASE("without tlsrpt nothing is dropped") {
    const Policy policy = policy_of(many_mx_policy(1000, 58));
    const RenderedAnswer rendered = render_policy_answer_checked(policy, "example", plain_zone());
    CHECK_FALSE(rendered.capped());
    CHECK(rendered.full_bytes == rendered.text.size());
    CHECK(describe_capped_answer(rendered, "example", plain_zone()).empty());
  }
}

TEST_CASE("answer: the limit is exact and configurable") {
  const Policy policy = policy_of(kRfcExample);
  const std::string full = render_policy_answer(policy, "example.com", tlsrpt_zone());
  const std::string bare = render_policy_answer(policy, "example.com", plain_zone());
  const std::string without_strings =
      bare +
      " policy_type=sts policy_domain=example.com mx_host_pattern=mail.example.com"
      " mx_host_pattern=*.example.net mx_host_pattern=backupmx.example.com";
  REQUIRE(full.starts_with(without_strings));

  AnswerOptions limited = tlsrpt_zone();
  auto at = [&](std::size_t limit) {
    limited.max_answer_bytes = limit;
    return render_policy_answer_checked(policy, "example.com", limited);
  };
  // The payload may be exactly the limit (what goes inside the netstring).
  CHECK(at(full.size()).text == full);
  CHECK_FALSE(at(full.size()).capped());
  CHECK(at(full.size() - 1).text == without_strings);
  CHECK(at(full.size() - 1).dropped_policy_strings);
  CHECK(at(without_strings.size()).text == without_strings);
  CHECK(at(without_strings.size() - 1).text == bare);
  CHECK(at(without_strings.size() - 1).dropped_mx_patterns);
  CHECK(at(bare.size()).text == bare);
  CHECK_FALSE(at(bare.size()).too_large);
  for (const std::size_t limit : {full.size(), without_strings.size(), bare.size()}) {
    CHECK(at(limit).full_bytes == full.size());
  }

  // Not even the match= list fits: TEMP defers the mail (as an unreadable reply
  // would) and says why; never a shortened match= list or NOTFOUND (§5).
  const RenderedAnswer too_large = at(bare.size() - 1);
  CHECK(too_large.too_large);
  CHECK(too_large.text.starts_with("TEMP "));
  CHECK(too_large.text.size() <= bare.size() - 1);
  CHECK(describe_capped_answer(too_large, "example.com", limited).find("answered TEMP") !=
        std::string::npos);
  CHECK(at(10).text == "TEMP ");

  // NOTFOUND answers are never touched.
  const Policy testing = policy_of("version: STSv1\nmode: testing\nmx: mx.example\nmax_age: 1\n");
  limited.max_answer_bytes = 100;
  CHECK(render_policy_answer_checked(testing, "example", limited).text == kNotFound);
  CHECK_FALSE(render_policy_answer_checked(testing, "example", limited).capped());
}

TEST_CASE("answer: options compare by value (zones answering alike share answers)") {
  AnswerOptions a = tlsrpt_zone();
  AnswerOptions b = tlsrpt_zone();
  CHECK(a == b);
  b.max_answer_bytes = 50000;
  CHECK_FALSE(a == b);
  // A zone's options written as before (three flags) still build.
  const AnswerOptions legacy{false, true, true};
  CHECK(legacy.max_answer_bytes == kMaxAnswerBytes);
}

TEST_CASE("answer: describe_capped_answer escapes the domain") {
  RenderedAnswer rendered;
  rendered.dropped_policy_strings = true;
  rendered.full_bytes = 123456;
  const std::string line = describe_capped_answer(rendered, "a\nb", {});
  CHECK(line.find('\n') == std::string::npos);
  CHECK(line.starts_with("answer for a\\x0ab would be 123456 bytes"));
}
