// Keys Postfix sends to smtp_tls_policy_maps (socketmap_table(5), postconf(5)
// smtp_tls_policy_maps) and how they map to policy domains (RFC 8461 §3.4).
#include <doctest/doctest.h>

#include <optional>
#include <string>

#include "sts/query_key.hpp"

using mtasts::sts::parse_query_key;
using mtasts::sts::QueryKey;
using Kind = mtasts::sts::QueryKey::Kind;
using namespace std::string_literals;

namespace {

void domain(std::string_view key, std::string_view expected,
            std::optional<std::uint16_t> port = std::nullopt, bool bracketed = false) {
  INFO("key: ", key);
  const QueryKey parsed = parse_query_key(key);
  CHECK_MESSAGE(parsed.kind == Kind::domain, parsed.reason);
  CHECK(parsed.domain == expected);
  CHECK(parsed.port == port);
  CHECK(parsed.bracketed == bracketed);
  CHECK(parsed.reason.empty());
}

void kind(std::string_view key, Kind expected, std::string_view reason_part = {}) {
  INFO("key: ", key);
  const QueryKey parsed = parse_query_key(key);
  CHECK(parsed.kind == expected);
  CHECK_MESSAGE(parsed.reason.find(reason_part) != std::string::npos, parsed.reason);
  CHECK_FALSE(parsed.reason.empty());
  CHECK(parsed.reason.size() < 300);
}

}  // namespace

TEST_CASE("query key: recipient domains") {
  domain("example.com", "example.com");
  domain("Example.COM", "example.com");  // keys arrive in their original case
  domain("example.com.", "example.com");
  domain("EXAMPLE.COM.", "example.com");
  domain("localhost", "localhost");
  domain("mail.sub.example.co.uk", "mail.sub.example.co.uk");
  domain("xn--bcher-kva.example", "xn--bcher-kva.example");  // A-labels pass through
  domain("XN--BCHER-KVA.Example", "xn--bcher-kva.example");
  domain("ab--cd.example", "ab--cd.example");  // valid hostname that IDNA would refuse
  domain("123.example", "123.example");
  domain(std::string(63, 'a') + ".example", std::string(63, 'a') + ".example");
  const std::string longest = std::string(63, 'a') + "." + std::string(63, 'b') + "." +
                              std::string(63, 'c') + "." + std::string(61, 'd');
  REQUIRE(longest.size() == 253);
  domain(longest, longest);
  domain(longest + ".", longest);
}

TEST_CASE("query key: UTF-8 domains become A-labels (libidn2)") {
  domain(
      "b\xc3\xbc"
      "cher.example",
      "xn--bcher-kva.example");
  domain(
      "B\xc3\x9c"
      "CHER.Example.",
      "xn--bcher-kva.example");                             // upper-case U-label mapped
  domain("\xe4\xbe\x8b\xe3\x81\x88.jp", "xn--r8jz45g.jp");  // 例え.jp
  domain("fa\xc3\x9f.de", "xn--fa-hia.de");                 // non-transitional: ß kept
  domain(
      "[b\xc3\xbc"
      "cher.example]:587",
      "xn--bcher-kva.example", 587, true);
  kind("\xff\xfe.example", Kind::invalid, "not a valid IDN");  // not UTF-8
  kind(
      "b\xc3\xbc"
      "cher_x.example",
      Kind::invalid);
  // A soft hyphen (U+00AD) maps to nothing: the label vanishes, so the key is
  // refused, never cached as "p." or as another name (fuzz_request finding).
  kind("p.\xc2\xad.\xc2\xad.", Kind::invalid, "maps to nothing");
  kind("p.\xc2\xad", Kind::invalid, "maps to nothing");
  kind("\xc2\xad.example", Kind::invalid);
  domain(
      "b\xc3\xbc\xc2\xad"
      "cher.example",
      "xn--bcher-kva.example");  // inside a label it is only dropped
}

TEST_CASE("query key: Postfix's parent-domain walk (§3.4: no parent policy)") {
  const QueryKey parent = parse_query_key(".Example.COM");
  CHECK(parent.kind == Kind::parent_domain);
  CHECK(parent.domain == "example.com");
  CHECK(parent.reason.find("§3.4") != std::string::npos);
  kind(".com", Kind::parent_domain);
  kind(".example.com.", Kind::parent_domain);
  kind(".", Kind::invalid, "empty domain");
  kind("..example.com", Kind::invalid, "empty label");
}

TEST_CASE("query key: smart hosts and transport next-hops") {
  domain("[mail.example.org]", "mail.example.org", std::nullopt, true);
  domain("[Mail.Example.ORG.]", "mail.example.org", std::nullopt, true);
  domain("[mail.example.org]:587", "mail.example.org", 587, true);
  domain("[mail.example.org]:1", "mail.example.org", 1, true);
  domain("[mail.example.org]:65535", "mail.example.org", 65535, true);
  domain("[mail.example.org]:00025", "mail.example.org", 25, true);
  domain("mail.example.org:2525", "mail.example.org", 2525, false);
  domain("Example.com.:25", "example.com", 25, false);

  kind("[mail.example.org]:0", Kind::invalid, "bad port");
  kind("[mail.example.org]:65536", Kind::invalid, "bad port");
  kind("[mail.example.org]:123456", Kind::invalid, "bad port");
  kind("[mail.example.org]:", Kind::invalid, "bad port");
  kind("[mail.example.org]:smtp", Kind::invalid, "bad port");
  kind("[mail.example.org]:-1", Kind::invalid, "bad port");
  kind("[mail.example.org]:25:26", Kind::invalid, "bad port");
  kind("mail.example.org:0", Kind::invalid, "bad port");
  kind("mail.example.org:", Kind::invalid, "bad port");
  kind("mail.example.org:99999999999999999999", Kind::invalid, "bad port");
  kind("[mail.example.org", Kind::invalid, "no ']'");
  kind("[mail.example.org]x", Kind::invalid, "text after ']'");
  kind("[mail.example.org]]", Kind::invalid, "text after ']'");
  kind("[]", Kind::invalid, "empty host");
  kind("[]:25", Kind::invalid, "empty host");
  kind("[.example.org]", Kind::invalid, "empty label");
  kind("mail.example.org]", Kind::invalid);
  kind("[[mail.example.org]]", Kind::invalid);
  kind("a:b:c", Kind::invalid, "bad address");
}

TEST_CASE("query key: address literals (§3.4: no policy)") {
  kind("[192.0.2.1]", Kind::address_literal, "address literal");
  kind("[192.0.2.1]:25", Kind::address_literal);
  kind("[ipv6:2001:db8::1]", Kind::address_literal);
  kind("[IPv6:2001:db8::1]:587", Kind::address_literal);
  kind("[2001:db8::1]", Kind::address_literal);
  kind("[::1]", Kind::address_literal);
  kind("192.0.2.1", Kind::address_literal);
  kind("192.0.2.1:25", Kind::address_literal);
  kind("2001:db8::1", Kind::address_literal);
  kind("::ffff:192.0.2.1", Kind::address_literal);
  const QueryKey literal = parse_query_key("[192.0.2.1]:2525");
  CHECK(literal.port == 2525);
  CHECK(literal.bracketed);
  CHECK(literal.domain.empty());

  kind("[ipv6:192.0.2.1]", Kind::invalid, "bad IPv6 literal");
  kind("[ipv6:zz::1]", Kind::invalid, "bad IPv6 literal");
  kind("[2001:db8::g]", Kind::invalid);
  kind("192.0.2", Kind::invalid, "numeric");
  kind("192.0.2.256", Kind::invalid, "numeric");
  kind("1234", Kind::invalid, "numeric");
}

TEST_CASE("query key: invalid and hostile keys") {
  kind("", Kind::invalid, "empty key");
  kind("example .com", Kind::invalid, "space in key");
  kind(" example.com", Kind::invalid, "space in key");
  kind("example.com ", Kind::invalid, "space in key");
  kind("example\0.com"s, Kind::invalid, "control character in key 'example\\x00.com'");
  kind("example.com\n", Kind::invalid, "control character");
  kind("example.com\r", Kind::invalid, "control character");
  kind("exa\tmple.com", Kind::invalid, "control character");
  kind("example.com\x7f", Kind::invalid, "control character");
  kind("\x1b[31mexample.com", Kind::invalid, "control character");
  kind("example..com", Kind::invalid, "empty label");
  kind("-example.com", Kind::invalid, "hyphen");
  kind("example-.com", Kind::invalid, "hyphen");
  kind("exa_mple.com", Kind::invalid, "not letters, digits and hyphens");
  kind("*.example.com", Kind::invalid, "not letters, digits and hyphens");
  kind("example.com/x", Kind::invalid, "not letters, digits and hyphens");
  kind("/var/run/lmtp.sock", Kind::invalid);
  kind("user@example.com", Kind::invalid);
  kind(std::string(64, 'a') + ".example", Kind::invalid, "longer than 63");
  kind(std::string(63, 'a') + "." + std::string(63, 'b') + "." + std::string(63, 'c') + "." +
           std::string(62, 'd'),
       Kind::invalid, "longer than 253");  // 254 octets
  kind(std::string(1000, 'a'), Kind::invalid, "longer than 253");
  kind(std::string(10000, 'a'), Kind::invalid, "key longer than");
  kind("[" + std::string(10000, 'a') + "]", Kind::invalid, "key longer than");
  std::string many_utf8;
  for (int i = 0; i < 300; ++i) many_utf8 += "\xc3\xbc";
  kind(many_utf8 + ".example", Kind::invalid);
}

namespace {

// "%" in a template stands for a dot; every dot form must give what "." gives.
std::string with_dot(std::string_view pattern, std::string_view dot) {
  std::string out;
  for (const char c : pattern) {
    if (c == '%') {
      out += dot;
    } else {
      out += c;
    }
  }
  return out;
}

}  // namespace

TEST_CASE("query key: every UTS #46 dot form is a full stop, wherever it is") {
  // UTS #46 §2.3 label separators, mapped to U+002E by the §4 mapping step: the
  // ideographic full stop, the full-width full stop, the halfwidth ideographic one.
  const std::string_view dot_forms[] = {"\xe3\x80\x82", "\xef\xbc\x8e", "\xef\xbd\xa1"};
  struct Row {
    std::string_view key;  // '%' = a dot
    Kind kind;
    std::string_view domain;
    std::optional<std::uint16_t> port = std::nullopt;
    bool bracketed = false;
  };
  const Row table[] = {
      {"example%com", Kind::domain, "example.com"},
      {"Example%COM%", Kind::domain, "example.com"},  // trailing: rejected before for U+3002
      {"example.com%", Kind::domain, "example.com"},
      {"mail%sub.example%co%uk%", Kind::domain, "mail.sub.example.co.uk"},
      {"%example%com", Kind::parent_domain, "example.com"},  // Postfix's parent-domain walk
      {"%com", Kind::parent_domain, "com"},
      {"%example.com%", Kind::parent_domain, "example.com"},
      {"[mail%example%org%]:587", Kind::domain, "mail.example.org", 587, true},
      {"[mail%example%org]", Kind::domain, "mail.example.org", std::nullopt, true},
      {"mail%example%org%:25", Kind::domain, "mail.example.org", 25},
      {"\xe4\xbe\x8b\xe3\x81\x88%jp", Kind::domain, "xn--r8jz45g.jp"},  // 例え.jp
      {"\xe4\xbe\x8b\xe3\x81\x88%jp%", Kind::domain, "xn--r8jz45g.jp"},
      {"b\xc3\xbc"
       "cher%example%",
       Kind::domain, "xn--bcher-kva.example"},
      {"%b\xc3\xbc"
       "cher%example",
       Kind::parent_domain, "xn--bcher-kva.example"},
      {"\xef\xbd\x85xample%com%", Kind::domain, "example.com"},  // full-width "e" as well
      {"192%0%2%1", Kind::address_literal, ""},
      {"[192%0%2%1]:25", Kind::address_literal, "", 25, true},
      {"%", Kind::invalid, ""},
      {"%%", Kind::invalid, ""},
      {"example%%com", Kind::invalid, ""},
      {"example%com%%", Kind::invalid, ""},
      {"%%example%com", Kind::invalid, ""},
      {"[%example%org]", Kind::invalid, ""},
      {"-example%com%", Kind::invalid, ""},
  };
  for (const Row& row : table) {
    for (const std::string_view dot :
         {std::string_view("."), dot_forms[0], dot_forms[1], dot_forms[2]}) {
      const std::string key = with_dot(row.key, dot);
      INFO("key: ", key);
      const QueryKey parsed = parse_query_key(key);
      CHECK_MESSAGE(parsed.kind == row.kind, parsed.reason);
      CHECK(parsed.domain == row.domain);
      CHECK(parsed.port == row.port);
      CHECK(parsed.bracketed == row.bracketed);
      CHECK((parsed.kind == Kind::domain) == parsed.reason.empty());
      if (parsed.kind == Kind::domain) {
        // What is cached and looked up parses to itself.
        CHECK(parse_query_key(parsed.domain).domain == parsed.domain);
      }
    }
  }
  // The three forms mixed in one key.
  domain(
      "a\xe3\x80\x82"
      "b\xef\xbc\x8e"
      "c\xef\xbd\xa1",
      "a.b.c");
  // Only the exact sequences are dots: a cut one is not UTF-8, and stays refused.
  kind("example\xe3\x80", Kind::invalid);
  kind(
      "example\xe3\x80"
      "com",
      Kind::invalid);
  kind("example\xef\xbc", Kind::invalid);
}
