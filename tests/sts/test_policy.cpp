// RFC 8461 §3.2: the policy file grammar, as one-line good/bad tables.
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "sts/policy.hpp"
#include "sts/rfc8461_example.hpp"

using mtasts::sts::kMaxAgeLimit;
using mtasts::sts::Mode;
using mtasts::sts::mode_from_string;
using mtasts::sts::parse_policy;
using mtasts::sts::Policy;
using mtasts::sts::to_string;
using mtasts::sts::testing::kRfcExample;
using namespace std::string_literals;

namespace {

constexpr std::string_view kHead = "version: STSv1\nmode: enforce\nmax_age: 86400\n";

Policy good(std::string_view body) {
  INFO("policy: ", body);
  const auto result = parse_policy(body);
  REQUIRE_MESSAGE(result.policy.has_value(), result.error);
  CHECK(result.error.empty());
  return *result.policy;
}

void bad(std::string_view body, std::string_view error) {
  INFO("policy: ", body);
  const auto result = parse_policy(body);
  CHECK_FALSE(result.policy.has_value());
  CHECK(result.error == error);
}

// kHead plus one more line: enforce mode, mx added when given.
std::string with(std::string_view line) { return std::string(kHead) + std::string(line) + "\n"; }

}  // namespace

TEST_CASE("policy: the RFC 8461 §3.2 example") {
  const Policy policy = good(kRfcExample);
  CHECK(policy.mode == Mode::enforce);
  CHECK(policy.max_age == 604800);
  CHECK(policy.mx ==
        std::vector<std::string>{"mail.example.com", "*.example.net", "backupmx.example.com"});
  CHECK(policy.lines == std::vector<std::string>{"version: STSv1", "mode: enforce",
                                                 "mx: mail.example.com", "mx: *.example.net",
                                                 "mx: backupmx.example.com", "max_age: 604800"});
}

TEST_CASE("policy: line ends (§3.2 sts-policy-term, erratum 6253)") {
  const Policy lf = good("version: STSv1\nmode: testing\nmx: a.example\nmax_age: 1\n");
  const Policy crlf = good("version: STSv1\r\nmode: testing\r\nmx: a.example\r\nmax_age: 1\r\n");
  const Policy mixed = good("version: STSv1\r\nmode: testing\nmx: a.example\r\nmax_age: 1");
  const Policy blank =
      good("\n\nversion: STSv1\n\r\nmode: testing\n\n\nmx: a.example\nmax_age: 1\n\n");
  const Policy spaces = good("version: STSv1\n  \nmode: testing\n\t\nmx: a.example\nmax_age: 1\n");
  CHECK(lf == crlf);
  CHECK(lf == mixed);   // the last line may lack a terminator
  CHECK(lf == blank);   // empty lines are skipped
  CHECK(lf == spaces);  // lines of only WSP are blank
  CHECK(lf.mode == Mode::testing);
  CHECK(lf.lines.size() == 4);

  bad("version: STSv1\rmode: enforce\nmx: a.example\nmax_age: 1\n", "line 1: bare CR");
  bad(with("mx: a.example\r\r"), "line 4: bare CR");
  bad(std::string(kHead) + "mx: a.example\r", "line 4: bare CR");  // a final CR is no line end
  bad(with("mx: a.ex\rample"), "line 4: bare CR");
  bad("\n\n" + with("foo: a\rb"), "line 6: bare CR");  // line numbers count blank lines
}

TEST_CASE("policy: field syntax (§3.2 sts-policy-field-delim = \":\" *WSP)") {
  const Policy tight = good("version:STSv1\nmode:enforce\nmx:a.example\nmax_age:86400");
  const Policy loose =
      good("version:  STSv1  \nmode:\tenforce\t\nmx: \t a.example \nmax_age: 86400 ");
  CHECK(tight.mode == loose.mode);
  CHECK(tight.mx == loose.mx);
  CHECK(tight.max_age == loose.max_age);
  // lines keep what was fetched but the trailing WSP, which §3.2's
  // sts-policy-record puts after the field, not in it
  CHECK(loose.lines == std::vector<std::string>{"version:  STSv1", "mode:\tenforce",
                                                "mx: \t a.example", "max_age: 86400"});

  bad(with(" mx: a.example"), "line 4: bad key ' '");
  bad(with("\tmx: a.example"), "line 4: bad key '\\x09'");
  bad(with("mx : a.example"), "line 4: expected ':' after key 'mx'");
  bad(with("mx a.example"), "line 4: expected ':' after key 'mx'");
  bad(with("mx"), "line 4: expected ':' after key 'mx'");
  bad(with(": value"), "line 4: bad key ':'");
  bad(with("just some text"), "line 4: expected ':' after key 'just'");
  bad(with("mx:"), "line 4: mx: empty value");
  bad(with("mx:   "), "line 4: mx: empty value");
  bad(with("foo:"), "line 4: foo: empty value");
  bad(with("my key: v"), "line 4: expected ':' after key 'my'");
  bad(with("_foo: v"), "line 4: bad key '_foo:'");
  bad(with("-foo: v"), "line 4: bad key '-foo:'");
  bad(with(std::string(33, 'k') + ": v"), "line 4: bad key '" + std::string(33, 'k') + ":'");
  bad(with("foo: a\tb"), "line 4: foo: control character \\x09 in value");
  bad(with("f\xc3\xa9: v"), "line 4: expected ':' after key 'f'");
}

TEST_CASE("policy: version (§3.2 sts-policy-version-value = %s\"STSv1\")") {
  bad("mode: enforce\nmx: a.example\nmax_age: 1\n", "version missing");
  bad("version: STSv2\nmode: enforce\nmx: a.example\nmax_age: 1\n",
      "line 1: version 'STSv2' is not STSv1");
  bad("version: stsv1\nmode: enforce\nmx: a.example\nmax_age: 1\n",
      "line 1: version 'stsv1' is not STSv1");
  bad("version: STSv10\nmode: none\nmax_age: 1\n", "line 1: version 'STSv10' is not STSv1");
  bad("Version: STSv1\nmode: none\nmax_age: 1\n",
      "version missing");  // %s: "Version" is an extension
  // the order of fields is not significant (§3.2)
  CHECK(good("max_age: 1\nmx: a.example\nmode: enforce\nversion: STSv1").mode == Mode::enforce);
  // a repeated version: the first wins, the later is only syntax-checked
  good("version: STSv1\nversion: STSv2\nmode: none\nmax_age: 1\n");
  bad("version: STSv2\nversion: STSv1\nmode: none\nmax_age: 1\n",
      "line 1: version 'STSv2' is not STSv1");
}

TEST_CASE("policy: mode (§3.2, case-sensitive)") {
  CHECK(good("version: STSv1\nmode: enforce\nmx: a.example\nmax_age: 1").mode == Mode::enforce);
  CHECK(good("version: STSv1\nmode: testing\nmx: a.example\nmax_age: 1").mode == Mode::testing);
  CHECK(good("version: STSv1\nmode: none\nmax_age: 1").mode == Mode::none);
  bad("version: STSv1\nmode: Enforce\nmx: a.example\nmax_age: 1",
      "line 2: mode 'Enforce' is not enforce, testing or none");
  bad("version: STSv1\nmode: ENFORCE\nmx: a.example\nmax_age: 1",
      "line 2: mode 'ENFORCE' is not enforce, testing or none");
  bad("version: STSv1\nmode: report\nmx: a.example\nmax_age: 1",
      "line 2: mode 'report' is not enforce, testing or none");
  bad("version: STSv1\nmode: enforce testing\nmx: a.example\nmax_age: 1",
      "line 2: mode 'enforce testing' is not enforce, testing or none");
  bad("version: STSv1\nmx: a.example\nmax_age: 1", "mode missing");
  // duplicate mode: the first occurrence wins (§3.2)
  CHECK(good("version: STSv1\nmode: enforce\nmode: none\nmx: a.example\nmax_age: 1").mode ==
        Mode::enforce);
  CHECK(good("version: STSv1\nmode: none\nmode: enforce\nmax_age: 1").mode == Mode::none);
  CHECK(good("version: STSv1\nmode: testing\nmode: Bogus\nmx: a.example\nmax_age: 1").mode ==
        Mode::testing);
}

TEST_CASE("policy: max_age (§3.2: 1*10DIGIT, at most 31557600)") {
  auto age = [](std::string_view value) {
    return good("version: STSv1\nmode: none\nmax_age: " + std::string(value)).max_age;
  };
  auto bad_age = [](std::string_view value, std::string_view error) {
    bad("version: STSv1\nmode: none\nmax_age: " + std::string(value), error);
  };
  CHECK(age("0") == 0);
  CHECK(age("1") == 1);
  CHECK(age("86400") == 86400);
  CHECK(age("31557600") == kMaxAgeLimit);
  CHECK(age("0031557600") == kMaxAgeLimit);  // ten digits with leading zeros
  CHECK(age("0000000000") == 0);
  bad_age("31557601", "line 3: max_age 31557601 exceeds 31557600");
  bad_age("4294967295", "line 3: max_age 4294967295 exceeds 31557600");
  bad_age("4294967296", "line 3: max_age 4294967296 exceeds 31557600");  // would wrap uint32
  bad_age("9999999999", "line 3: max_age 9999999999 exceeds 31557600");
  bad_age("99999999999", "line 3: max_age 99999999999 exceeds 31557600");  // 11 digits
  bad_age("18446744073709551617", "line 3: max_age 18446744073709551617 exceeds 31557600");
  bad_age(std::string(100, '9'),
          "line 3: max_age " + std::string(64, '9') + "... exceeds 31557600");
  bad_age("00000000001", "line 3: max_age 00000000001 has more than 10 digits");
  bad_age("-1", "line 3: max_age '-1' is not a number");
  bad_age("+1", "line 3: max_age '+1' is not a number");
  bad_age("1e6", "line 3: max_age '1e6' is not a number");
  bad_age("86400s", "line 3: max_age '86400s' is not a number");
  bad_age("86 400", "line 3: max_age '86 400' is not a number");
  bad_age("0x10", "line 3: max_age '0x10' is not a number");
  bad("version: STSv1\nmode: none\n", "max_age missing");
  // first occurrence wins
  CHECK(good("version: STSv1\nmode: none\nmax_age: 5\nmax_age: 99999999999").max_age == 5);
  bad("version: STSv1\nmode: none\nmax_age: 99999999999\nmax_age: 5",
      "line 3: max_age 99999999999 exceeds 31557600");
}

TEST_CASE("policy: mx (§3.2: [\"*.\"] Domain, A-labels)") {
  auto mx_of = [](std::string_view lines) {
    return good(std::string(kHead) + std::string(lines)).mx;
  };
  using Mx = std::vector<std::string>;
  CHECK(mx_of("mx: mail.example.com") == Mx{"mail.example.com"});
  CHECK(mx_of("mx: *.example.com") == Mx{"*.example.com"});
  CHECK(mx_of("mx: MAIL.Example.COM") == Mx{"mail.example.com"});
  CHECK(mx_of("mx: mail.example.com.") == Mx{"mail.example.com"});
  CHECK(mx_of("mx: xn--bcher-kva.example") == Mx{"xn--bcher-kva.example"});
  CHECK(mx_of("mx: localhost") == Mx{"localhost"});
  CHECK(mx_of("mx: b.example\nmx: a.example\nmx: B.EXAMPLE.\nmx: a.example") ==
        Mx{"b.example", "a.example"});  // policy order, duplicates removed
  CHECK(mx_of("mx: *.example.com\nmx: example.com") == Mx{"*.example.com", "example.com"});

  bad(with("mx: *"), "line 4: mx '*' is not a valid host name pattern");
  bad(with("mx: *."), "line 4: mx '*.' is not a valid host name pattern");
  bad(with("mx: 192.0.2.1"), "line 4: mx '192.0.2.1' is not a valid host name pattern");
  bad(with("mx: [192.0.2.1]"), "line 4: mx '[192.0.2.1]' is not a valid host name pattern");
  bad(with("mx: 2001:db8::1"), "line 4: mx '2001:db8::1' is not a valid host name pattern");
  bad(with("mx: *.*.example.com"), "line 4: mx '*.*.example.com' is not a valid host name pattern");
  bad(with("mx: mail*.example.com"),
      "line 4: mx 'mail*.example.com' is not a valid host name pattern");
  bad(with("mx: mail.*.example.com"),
      "line 4: mx 'mail.*.example.com' is not a valid host name pattern");
  bad(with("mx: .example.com"), "line 4: mx '.example.com' is not a valid host name pattern");
  bad(with("mx: example..com"), "line 4: mx 'example..com' is not a valid host name pattern");
  bad(with("mx: example.com.."), "line 4: mx 'example.com..' is not a valid host name pattern");
  bad(with("mx: -mail.example.com"),
      "line 4: mx '-mail.example.com' is not a valid host name pattern");
  bad(with("mx: mail_1.example.com"),
      "line 4: mx 'mail_1.example.com' is not a valid host name pattern");
  bad(with("mx: mail.example.com mx2.example.com"),
      "line 4: mx 'mail.example.com mx2.example.com' is not a valid host name pattern");
  bad(with("mx: mail.example.com,mx2.example.com"),
      "line 4: mx 'mail.example.com,mx2.example.com' is not a valid host name pattern");
  bad(with("mx: b\xc3\xbc"
           "cher.example"),
      "line 4: mx 'b\\xc3\\xbccher.example' is not a valid host name pattern");  // U-label
  bad(with("mx: " + std::string(64, 'a') + ".example"),
      "line 4: mx '" + std::string(64, 'a') + "...' is not a valid host name pattern");

  bad(kHead, "mx missing (required in mode enforce)");
  bad("version: STSv1\nmode: testing\nmax_age: 1\n", "mx missing (required in mode testing)");
  CHECK(good("version: STSv1\nmode: none\nmax_age: 1\n").mx.empty());
  // mx is checked in mode none too
  bad("version: STSv1\nmode: none\nmax_age: 1\nmx: *\n",
      "line 4: mx '*' is not a valid host name pattern");
}

TEST_CASE("policy: unknown keys are ignored but must be well-formed (§3.2)") {
  const Policy policy =
      good(with("mx: a.example\nfoo: bar\nx-ext.v_2: caf\xc3\xa9 au lait\nMX: b.example"));
  CHECK(policy.mx == std::vector<std::string>{"a.example"});  // %s"mx": "MX" is an extension
  CHECK(policy.lines.size() == 7);
  CHECK(policy.lines[4] == "foo: bar");
  good(with("mx: a.example\nurl: https://example.com/x?y=1;z=2"));  // ":" and ";" in values
  good(with("mx: a.example\nk: \xf0\x9f\x93\xa7"));                 // UTF8-4
  good(with("mx: a.example\n" + std::string(32, 'k') + ": v"));

  bad(with("mx: a.example\nfoo: \xc3"), "line 5: foo: invalid UTF-8 at column 1");
  bad(with("mx: a.example\nfoo: \xc0\xaf"), "line 5: foo: invalid UTF-8 at column 1");  // overlong
  bad(with("mx: a.example\nfoo: \xed\xa0\x80"),
      "line 5: foo: invalid UTF-8 at column 1");  // surrogate
  bad(with("mx: a.example\nfoo: \xf4\x90\x80\x80"), "line 5: foo: invalid UTF-8 at column 1");
  bad(with("mx: a.example\nfoo: ab\xff"), "line 5: foo: invalid UTF-8 at column 3");
  bad(with("mx: a.example\nfoo: a\x7f"), "line 5: foo: control character \\x7f in value");
}

TEST_CASE("policy: hostile input") {
  bad("", "version missing");
  bad("\n\n\r\n\n", "version missing");  // only blank lines
  bad("version: STSv1\0\nmode: none\nmax_age: 1"s,
      "line 1: version: control character \\x00 in value");
  bad("version: STSv1\nmo\0de: none\nmax_age: 1"s, "line 2: expected ':' after key 'mo'");
  bad("\0"s, "line 1: bad key '\\x00'");
  bad(with("mx: a.example\x1b[2J"), "line 4: mx: control character \\x1b in value");
  bad("<html><body>Not here</body></html>", "line 1: bad key '<'");
  bad("\xef\xbb\xbfversion: STSv1\nmode: none\nmax_age: 1", "line 1: bad key '\\xef'");  // BOM
  // A large body of many lines: linear, and the error stays short.
  std::string big(kHead);
  for (int i = 0; i < 20000; ++i) big += "mx: mx" + std::to_string(i) + ".example\n";
  CHECK(good(big).mx.size() == 20000);
  const auto long_line = parse_policy(with("foo: " + std::string(100000, 'x') + "\x01"));
  CHECK_FALSE(long_line.policy);
  CHECK(long_line.error.size() < 200);
}

TEST_CASE("policy: mode names") {
  for (const Mode mode : {Mode::enforce, Mode::testing, Mode::none}) {
    CHECK(mode_from_string(to_string(mode)) == mode);
  }
  CHECK(to_string(Mode::enforce) == "enforce");
  CHECK_FALSE(mode_from_string("Enforce"));
  CHECK_FALSE(mode_from_string(""));
  CHECK_FALSE(mode_from_string("enforce "));
}
