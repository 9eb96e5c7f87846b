#include <doctest/doctest.h>

#include <string>

#include "resolver/answer_table.hpp"

using namespace mtasts::resolver;

namespace {
const std::string kSecure = "OK secure match=mx.example.com servername=hostname";
const std::string kNotFound = "NOTFOUND ";
}  // namespace

TEST_CASE("dane-only wins over every MTA-STS answer (RFC 8461 section 2)") {
  for (auto on_failure : {DaneFailure::temp, DaneFailure::sts}) {
    CHECK(select_answer(DaneState::all, kSecure, on_failure) == "OK dane-only");
    CHECK(select_answer(DaneState::all, kNotFound, on_failure) == "OK dane-only");
  }
}

TEST_CASE("partial DANE: an enforced policy authenticates every MX, else opportunistic dane") {
  CHECK(select_answer(DaneState::partial, kSecure, DaneFailure::temp) == kSecure);
  CHECK(select_answer(DaneState::partial, kNotFound, DaneFailure::temp) == "OK dane");
  CHECK(select_answer(DaneState::partial, kNotFound, DaneFailure::sts) == "OK dane");
}

TEST_CASE("no DANE: MTA-STS decides alone") {
  CHECK(select_answer(DaneState::none, kSecure, DaneFailure::temp) == kSecure);
  CHECK(select_answer(DaneState::none, kNotFound, DaneFailure::temp) == kNotFound);
}

TEST_CASE("DANE lookups failing: never a silent downgrade unless configured") {
  CHECK(select_answer(DaneState::failed, kSecure, DaneFailure::temp) == kSecure);
  CHECK(select_answer(DaneState::failed, kNotFound, DaneFailure::temp) == "TEMP ");
  CHECK(select_answer(DaneState::failed, kNotFound, DaneFailure::sts) == kNotFound);
  CHECK(select_answer(DaneState::failed, kSecure, DaneFailure::sts) == kSecure);
}
