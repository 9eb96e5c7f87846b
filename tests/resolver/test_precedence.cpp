// DANE first (RFC 8461 §2): every DANE state against enforced and not enforced
// MTA-STS answers, both on_failure settings.
#include <doctest/doctest.h>

#include "resolver/answer.hpp"

using namespace mtasts;
using namespace mtasts::resolver;

namespace {
constexpr std::string_view kSecure = "OK secure match=mx.example.com";
const Answer enforced = Answer::sts(true, kSecure);
const Answer none = Answer::notfound();
}  // namespace

TEST_CASE("dane-only beats any MTA-STS answer") {
  for (auto f : {dane::OnFailure::temp, dane::OnFailure::sts}) {
    CHECK(combine(dane::Level::dane_only, enforced, f).text() == "OK dane-only");
    CHECK(combine(dane::Level::dane_only, none, f).text() == "OK dane-only");
  }
}

TEST_CASE("partial DANE: an enforced policy authenticates every MX, else OK dane") {
  CHECK(combine(dane::Level::dane, enforced, dane::OnFailure::temp).text() == kSecure);
  CHECK(combine(dane::Level::dane, none, dane::OnFailure::temp).text() == "OK dane");
  CHECK(combine(dane::Level::dane, none, dane::OnFailure::sts).text() == "OK dane");
}

TEST_CASE("no DANE: MTA-STS decides") {
  CHECK(combine(dane::Level::none, enforced, dane::OnFailure::temp).text() == kSecure);
  CHECK(combine(dane::Level::none, none, dane::OnFailure::temp).text() == "NOTFOUND ");
}

TEST_CASE("DANE failing: an enforced policy stands; otherwise on_failure decides") {
  CHECK(combine(std::nullopt, enforced, dane::OnFailure::temp).text() == kSecure);
  CHECK(combine(std::nullopt, none, dane::OnFailure::temp).text() == "TEMP ");
  CHECK(combine(std::nullopt, none, dane::OnFailure::sts).text() == "NOTFOUND ");
  CHECK(combine(std::nullopt, enforced, dane::OnFailure::sts).text() == kSecure);
}

TEST_CASE("an answer knows whether it authenticates the MX hosts") {
  CHECK(enforced.authenticates());
  CHECK_FALSE(none.authenticates());
  CHECK(combine(dane::Level::dane, none, dane::OnFailure::temp).authenticates());
  CHECK_FALSE(combine(std::nullopt, none, dane::OnFailure::temp).authenticates());
}

TEST_CASE("testing mode is enforced only with strict_testing") {
  sts::Policy p;
  p.mode = sts::Mode::testing;
  sts::AnswerOptions o;
  CHECK_FALSE(sts_enforced(p, o));
  o.strict_testing = true;
  CHECK(sts_enforced(p, o));
  p.mode = sts::Mode::none;
  CHECK_FALSE(sts_enforced(p, o));
}
