// The export file's lines (control/transfer.hpp): what export writes decodes
// to the same records, and a line that is not one says what is wrong.
#include <doctest/doctest.h>

#include <string>

#include "control/transfer.hpp"
#include "sts/policy.hpp"

namespace {

using namespace mtasts;
using namespace mtasts::control;

cache::CachedPolicy sample_policy() {
  cache::CachedPolicy p;
  p.domain = "a.test";
  p.txt_id = "20240101";
  // A body as fetched: CRLF, a quote and a backslash survive the round trip.
  p.body = "version: STSv1\r\nmode: enforce\r\nmx: mx.a.test\r\nmax_age: 86400\r\nx: \"\\\r\n";
  p.fetched_at = 1'700'000'000;
  p.expires_at = 1'700'086'400;
  p.checked_at = 1'700'000'100;
  return p;
}

std::string error_of(std::string_view line) {
  const auto decoded = decode_transfer_line(line);
  REQUIRE(decoded.error() != nullptr);
  return *decoded.error();
}

}  // namespace

TEST_CASE("a policy line round-trips, the body as fetched, the fields in order") {
  const auto line = policy_line(sample_policy());
  CHECK(line.find('\n') == std::string::npos);
  CHECK(line.rfind("{\"kind\":\"policy\",\"domain\":\"a.test\",\"txt_id\":\"20240101\"", 0) == 0);
  const auto decoded = decode_transfer_line(line);
  const auto* p = std::get_if<cache::CachedPolicy>(&decoded.value);
  REQUIRE(p != nullptr);
  CHECK(p->domain == "a.test");
  CHECK(p->txt_id == "20240101");
  CHECK(p->body == sample_policy().body);
  CHECK(p->fetched_at == 1'700'000'000);
  CHECK(p->expires_at == 1'700'086'400);
  CHECK(p->checked_at == 1'700'000'100);
}

TEST_CASE("a DANE line round-trips") {
  const cache::CachedDane d{"[mx.a.test]:587", dane::Level::dane_only, "mx ok, tlsa ok",
                            1'700'000'000,     1'700'003'600,          1'700'007'200};
  const auto decoded = decode_transfer_line(dane_line(d));
  const auto* got = std::get_if<cache::CachedDane>(&decoded.value);
  REQUIRE(got != nullptr);
  CHECK(got->destination == d.destination);
  CHECK(got->level == dane::Level::dane_only);
  CHECK(got->summary == d.summary);
  CHECK(got->fetched_at == d.fetched_at);
  CHECK(got->expires_at == d.expires_at);
  CHECK(got->keep_until == d.keep_until);
}

TEST_CASE("the header names the format and its version") {
  const auto line = export_header_line(1'700'000'000);
  CHECK(line == "{\"kind\":\"mta-stsd-export\",\"version\":1,\"exported_at\":1700000000}");
  const auto decoded = decode_transfer_line(line + "\r");
  const auto* header = std::get_if<ExportHeader>(&decoded.value);
  REQUIRE(header != nullptr);
  CHECK(header->version == 1);
  CHECK(header->exported_at == 1'700'000'000);
  CHECK(error_of(R"({"kind":"mta-stsd-export","version":2,"exported_at":1})").find("version 2") !=
        std::string::npos);
  // 2^32 + 1 would be 1 in an int: compared at full width.
  CHECK(error_of(R"({"kind":"mta-stsd-export","version":4294967297,"exported_at":1})")
            .find("version 4294967297") != std::string::npos);
  CHECK(error_of(R"({"kind":"mta-stsd-export","version":-1,"exported_at":1})").find("version -1") !=
        std::string::npos);
}

TEST_CASE("a line that is not a record says what is wrong") {
  CHECK(error_of("{\"kind\":\"policy\",").find("not JSON") == 0);
  CHECK(error_of("[1,2]") == "not a JSON object");
  CHECK(error_of("{}") == "\"kind\" missing or not a string");
  CHECK(error_of(R"({"kind":"cookie"})").find("unknown kind") == 0);
  CHECK(error_of(R"({"kind":"policy","domain":"a.test","txt_id":"1","body":"x",)"
                 R"("fetched_at":"soon","expires_at":1,"checked_at":1})") ==
        "\"fetched_at\" missing or not an integer (unix seconds)");
  CHECK(error_of(R"({"kind":"policy","domain":"a.test","txt_id":"1","body":"x",)"
                 R"("fetched_at":1.5,"expires_at":1,"checked_at":1})")
            .find("fetched_at") != std::string::npos);
  CHECK(error_of(R"({"kind":"policy","domain":"a.test","txt_id":"1","body":"x",)"
                 R"("fetched_at":18446744073709551615,"expires_at":1,"checked_at":1})") ==
        "\"fetched_at\" out of range");
  CHECK(error_of(R"({"kind":"policy","txt_id":"1"})") == "\"domain\" missing or not a string");
  CHECK(error_of(R"({"kind":"dane","destination":"a.test","level":"strong","summary":"",)"
                 R"("fetched_at":1,"expires_at":1,"keep_until":1})")
            .find("level") != std::string::npos);
  CHECK(error_of(std::string(kMaxTransferLine + 1, ' ')).find("longer than") == 0);
}

TEST_CASE("an import's reply names at most kMaxImportReasons refused lines") {
  ImportTally tally;
  tally.imported = 3;
  tally.older = 1;
  for (std::size_t line = 2; line < kMaxImportReasons + 7; ++line) tally.refuse(line, "bad");
  CHECK(tally.refused == kMaxImportReasons + 5);
  CHECK(tally.errors.size() == kMaxImportReasons);
  CHECK(tally.unreported == 5);
  const auto reply = import_reply_json(tally);
  CHECK(reply.rfind(R"({"imported":3,"refused":105,"older":1,"errors":[{"line":2,"reason":"bad"},)",
                    0) == 0);
  CHECK(reply.find(R"("unreported":5})") != std::string::npos);
}

TEST_CASE("a policy memory holds without its text is written as text that parses the same") {
  auto p = sample_policy();
  p.policy = *sts::parse_policy(p.body).policy;
  p.body.clear();
  const auto decoded = decode_transfer_line(policy_line(p));
  const auto* got = std::get_if<cache::CachedPolicy>(&decoded.value);
  REQUIRE(got != nullptr);
  const auto reparsed = sts::parse_policy(got->body);
  REQUIRE(reparsed.policy.has_value());
  CHECK(reparsed.policy->mode == sts::Mode::enforce);
  CHECK(reparsed.policy->mx == p.policy.mx);
  CHECK(reparsed.policy->max_age == 86400);
}

TEST_CASE("a refusal's reason is bounded, whatever the parser quoted") {
  // An unterminated string of 100 KB: the parser's message may quote it.
  const std::string line = "{\"kind\":\"policy\",\"domain\":\"" + std::string(100000, 'a');
  const auto decoded = decode_transfer_line(line);
  REQUIRE(decoded.error() != nullptr);
  ImportTally tally;
  tally.refuse(2, *decoded.error());
  REQUIRE(tally.errors.size() == 1);
  CHECK(tally.errors[0].reason.rfind("not JSON", 0) == 0);
  CHECK(tally.errors[0].reason.size() <= kMaxReasonBytes + 3);
  CHECK(import_reply_json(tally).size() < 1000);
}
