// An import's payload, line by line (daemon/control_import.hpp): the header
// first, then records; every refusal named with its line; the reply's counts.
#include <doctest/doctest.h>

#include <nlohmann/json.hpp>
#include <string>
#include <variant>

#include "cache/store_records.hpp"
#include "control/transfer.hpp"
#include "daemon/control_import.hpp"

using mtasts::cache::CachedDane;
using mtasts::cache::CachedPolicy;
using mtasts::daemon::ImportSession;
using mtasts::resolver::Adoption;
using Outcome = mtasts::resolver::Adoption::Outcome;

namespace {

std::string header() { return mtasts::control::export_header_line(mtasts_test::unix_now()); }

nlohmann::json reply_of(ImportSession& session) { return nlohmann::json::parse(session.finish()); }

}  // namespace

TEST_CASE("import: after the header each record goes to the lifecycle, each outcome counted") {
  ImportSession session;
  CHECK_FALSE(session.take(header()).has_value());
  auto policy = session.take(mtasts::control::policy_line(mtasts_test::stored_policy("a.test")));
  REQUIRE(policy.has_value());
  REQUIRE(std::holds_alternative<CachedPolicy>(*policy));
  CHECK(std::get<CachedPolicy>(*policy).domain == "a.test");
  CHECK(session.line() == 2);
  session.adopted(2, {Outcome::adopted, ""});
  auto dane = session.take(mtasts::control::dane_line(mtasts_test::stored_dane("b.test")));
  REQUIRE(dane.has_value());
  CHECK(std::holds_alternative<CachedDane>(*dane));
  session.adopted(3, {Outcome::older, "held one is newer"});
  REQUIRE(session.take(mtasts::control::policy_line(mtasts_test::stored_policy("c.test"))));
  session.adopted(4, {Outcome::refused, "would downgrade the enforce policy held"});
  CHECK(session.imported() == 1);
  const auto reply = reply_of(session);
  CHECK(reply["imported"] == 1);
  CHECK(reply["older"] == 1);
  CHECK(reply["refused"] == 1);
  REQUIRE(reply["errors"].size() == 1);
  CHECK(reply["errors"][0]["line"] == 4);
  CHECK(reply["errors"][0]["reason"] == "would downgrade the enforce policy held");
  // finish() starts over: the next payload needs its own header.
  CHECK(session.line() == 0);
  CHECK(session.imported() == 0);
}

TEST_CASE("import: without the header first, no line is read as a record") {
  ImportSession session;
  const std::string record = mtasts::control::policy_line(mtasts_test::stored_policy("a.test"));
  CHECK_FALSE(session.take(record).has_value());
  CHECK_FALSE(session.take(record).has_value());
  const auto reply = reply_of(session);
  CHECK(reply["imported"] == 0);
  CHECK(reply["refused"] == 2);
  REQUIRE(reply["errors"].size() == 2);
  CHECK(reply["errors"][0]["reason"].get<std::string>().find("not the header") == 0);
  CHECK(reply["errors"][1]["reason"] == "line 1 is not a valid header");
}

TEST_CASE("import: garbage and a second header are refused by line, the rest still read") {
  ImportSession session;
  CHECK_FALSE(session.take(header()).has_value());
  CHECK_FALSE(session.take("{not json").has_value());
  CHECK_FALSE(session.take(header()).has_value());
  CHECK(session.take(mtasts::control::policy_line(mtasts_test::stored_policy("a.test"))));
  session.refuse(4, "DANE is disabled in this daemon");
  const auto reply = reply_of(session);
  CHECK(reply["refused"] == 3);
  REQUIRE(reply["errors"].size() == 3);
  CHECK(reply["errors"][0]["line"] == 2);
  CHECK(reply["errors"][1]["line"] == 3);
  CHECK(reply["errors"][1]["reason"] == "a second header");
  CHECK(reply["errors"][2]["reason"] == "DANE is disabled in this daemon");
}

TEST_CASE("import: a header that does not parse makes every later line refused") {
  ImportSession session;
  CHECK_FALSE(session.take("{\"kind\":\"something else\"}").has_value());
  CHECK_FALSE(
      session.take(mtasts::control::policy_line(mtasts_test::stored_policy("a.test"))).has_value());
  const auto reply = reply_of(session);
  CHECK(reply["refused"] == 2);
  CHECK(reply["errors"][1]["reason"] == "line 1 is not a valid header");
}
