// RFC 8461 §3.1: the _mta-sts TXT record grammar, as one-line good/bad tables.
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "sts/txt_record.hpp"

using mtasts::sts::has_sts_version_prefix;
using mtasts::sts::parse_txt_record;
using mtasts::sts::select_txt_record;
using mtasts::sts::TxtRecord;

namespace {

std::string id_of(std::string_view text) {
  const auto result = parse_txt_record(text);
  REQUIRE_MESSAGE(result.record.has_value(), text, " -> ", result.error);
  CHECK(result.error.empty());
  return result.record->id;
}

void good(std::string_view text, std::string_view id) {
  INFO("record: ", text);
  CHECK(id_of(text) == id);
}

void bad(std::string_view text, std::string_view error_part) {
  INFO("record: ", text);
  const auto result = parse_txt_record(text);
  CHECK_FALSE(result.record.has_value());
  CHECK_MESSAGE(result.error.find(error_part) != std::string::npos, result.error);
}

}  // namespace

TEST_CASE("TXT: valid records (RFC 8461 §3.1)") {
  good("v=STSv1; id=20160831085700Z;", "20160831085700Z");  // the RFC's example
  good("v=STSv1; id=20160831085700Z", "20160831085700Z");   // trailing delimiter optional
  good("v=STSv1;id=abc", "abc");
  good("v=STSv1 ;id=abc", "abc");          // *WSP before ";" (erratum 6285 reading)
  good("v=STSv1\t;\tid=abc\t;\t", "abc");  // WSP includes HTAB
  good("v=STSv1;   id=abc   ;   ", "abc");
  good("v=STSv1; id=a", "a");
  good("v=STSv1; id=" + std::string(32, '7'), std::string(32, '7'));  // 32 is the maximum
  good("v=STSv1; id=ABCdef123", "ABCdef123");
  good("v=STSv1; ext=1; id=x", "x");             // id need not come first after v
  good("v=STSv1; id=x; v=STSv2", "x");           // a later "v" is just an extension
  good("v=STSv1; ID=upper; id=lower", "lower");  // %s"id=": "ID" is an extension
  good("v=STSv1; id=x; a.b_c-d=!\"#$%&'()*+,-./0123456789:<>?@[\\]^_`{|}~", "x");
  good("v=STSv1; id=x; " + std::string(32, 'n') + "=v", "x");  // 32-octet extension name
}

TEST_CASE("TXT: extensions are kept in order") {
  const auto result = parse_txt_record("v=STSv1; foo=1; id=x; bar=two;");
  REQUIRE(result.record);
  CHECK(*result.record == TxtRecord{"x", {{"foo", "1"}, {"bar", "two"}}});
}

TEST_CASE("TXT: invalid records (RFC 8461 §3.1)") {
  bad("", "does not begin with v=STSv1");
  bad("v=STSv10; id=abc", "does not begin with v=STSv1");
  bad("v=STSv2; id=abc", "does not begin with v=STSv1");
  bad("V=STSv1; id=abc", "does not begin with v=STSv1");  // %s: case-sensitive
  bad("v=stsv1; id=abc", "does not begin with v=STSv1");
  bad(" v=STSv1; id=abc", "does not begin with v=STSv1");
  bad("id=abc; v=STSv1", "does not begin with v=STSv1");  // §3.1: MUST begin with sts-version
  bad("v=STSv1", "no field");
  bad("v=STSv1;", "no field");
  bad("v=STSv1; ", "no field");
  bad("v=STSv1; ext=1", "id missing");
  bad("v=STSv1; ext=1;", "id missing");
  bad("v=STSv1 id=abc", "expected ';'");
  bad("v=STSv1; id=abc ", "expected ';'");  // WSP only in a delimiter
  bad("v=STSv1; id=abc ext=1", "expected ';'");
  bad("v=STSv1;; id=abc", "bad field name");
  bad("v=STSv1; id=abc;;", "bad field name");
  bad("v=STSv1; id=", "empty value for 'id'");
  bad("v=STSv1; id=abc; id=abc", "more than once");  // strict: one id only
  bad("v=STSv1; id=abc; id=def", "more than once");
  bad("v=STSv1; id=" + std::string(33, 'a'), "not 1 to 32");
  bad("v=STSv1; id=2016-08-31", "not 1 to 32");
  bad("v=STSv1; id=a_b", "not 1 to 32");
  bad("v=STSv1; id=a.b", "not 1 to 32");
  bad("v=STSv1; id=a=b", "bad character '='");
  bad("v=STSv1; id = abc", "expected '='");
  bad("v=STSv1; id", "expected '='");
  bad("v=STSv1; =abc; id=x", "bad field name");
  bad("v=STSv1; _ext=1; id=x", "bad field name");  // name starts with ALPHA / DIGIT
  bad("v=STSv1; -ext=1; id=x", "bad field name");
  bad("v=STSv1; " + std::string(33, 'n') + "=v; id=x", "bad field name");
  bad("v=STSv1; ext=; id=x", "empty value");
  bad("v=STSv1; ext=a b; id=x", "expected ';'");
}

TEST_CASE("TXT: hostile bytes are rejected and reported printably") {
  using namespace std::string_literals;
  bad("v=STSv1; id=abc\0def"s, "bad character '\\x00'");
  bad("v=STSv1; id=abc\0"s, "bad character '\\x00'");
  bad("v=STSv1\0; id=abc"s, "does not begin with v=STSv1");
  bad("v=STSv1; id=abc; ext=caf\xc3\xa9", "bad character '\\xc3'");  // US-ASCII only
  bad("v=STSv1; id=\xff", "empty value for 'id'");
  bad("v=STSv1; id=abc\r\n", "bad character '\\x0d'");
  bad("v=STSv1; id=abc\x7f", "bad character '\\x7f'");
  bad("v=STSv1; id=abc; ext=a\x1b[31m", "bad character '\\x1b'");
  // A huge record: still linear, error excerpt stays short.
  const std::string huge = "v=STSv1; id=x; ext=" + std::string(100000, 'a') + "\x01";
  const auto result = parse_txt_record(huge);
  CHECK_FALSE(result.record);
  CHECK(result.error.size() < 200);
}

TEST_CASE("TXT: the STSv1 prefix test") {
  CHECK(has_sts_version_prefix("v=STSv1"));
  CHECK(has_sts_version_prefix("v=STSv1;"));
  CHECK(has_sts_version_prefix("v=STSv1 ;"));
  CHECK(has_sts_version_prefix("v=STSv1\t"));
  CHECK(has_sts_version_prefix("v=STSv1; id=x"));
  CHECK_FALSE(has_sts_version_prefix(""));
  CHECK_FALSE(has_sts_version_prefix("v=STSv"));
  CHECK_FALSE(has_sts_version_prefix("v=STSv10"));
  CHECK_FALSE(has_sts_version_prefix("v=STSv1x"));
  CHECK_FALSE(has_sts_version_prefix("v=STSv1="));
  CHECK_FALSE(has_sts_version_prefix("v=spf1 -all"));
  CHECK_FALSE(has_sts_version_prefix(" v=STSv1"));
  CHECK_FALSE(has_sts_version_prefix("V=STSV1;"));
}

TEST_CASE("TXT: selecting the one STSv1 record among several (§3.1)") {
  using Records = std::vector<std::string>;
  auto selected = [](const Records& records) { return select_txt_record(records); };

  CHECK(selected({"v=STSv1; id=one"}).record->id == "one");
  CHECK(selected({"v=spf1 -all", "v=STSv1; id=one", "hello"}).record->id == "one");
  CHECK(selected({"v=STSv10; id=ten", "v=STSv1; id=one"}).record->id == "one");

  CHECK(selected({}).error == "no STSv1 record");
  CHECK(selected({"v=spf1 -all", "v=STSv10; id=x"}).error == "no STSv1 record");
  CHECK(selected({""}).error == "no STSv1 record");
  CHECK(selected({"v=STSv1; id=one", "v=STSv1; id=two"}).error == "2 STSv1 records");
  CHECK(selected({"v=STSv1; id=one", "v=STSv1; id=one", "v=STSv1 ;id=x"}).error ==
        "3 STSv1 records");
  // Two records, one of them invalid: still not exactly one, so no policy.
  CHECK(selected({"v=STSv1; id=one", "v=STSv1"}).error == "2 STSv1 records");
  // The one remaining record must itself be valid.
  const auto invalid = selected({"v=spf1 -all", "v=STSv1; id=" + std::string(33, 'a')});
  CHECK_FALSE(invalid.record);
  CHECK(invalid.error.find("not 1 to 32") != std::string::npos);
}
