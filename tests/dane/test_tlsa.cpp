#include <doctest/doctest.h>

#include "dane/tlsa.hpp"

using mtasts::dane::parse_tlsa_rdata;
using mtasts::dane::Tlsa;
using mtasts::dane::usable;

namespace {

Tlsa make(int usage, int selector, int mtype, std::size_t bytes) {
  return Tlsa{static_cast<std::uint8_t>(usage), static_cast<std::uint8_t>(selector),
              static_cast<std::uint8_t>(mtype), std::string(bytes, '\xab')};
}

}  // namespace

TEST_CASE("RFC 7672 3.1: only DANE-TA(2) and DANE-EE(3) are usable for SMTP") {
  CHECK(usable(make(3, 1, 1, 32)));
  CHECK(usable(make(2, 0, 1, 32)));
  CHECK(usable(make(3, 0, 2, 64)));
  CHECK(usable(make(2, 1, 0, 300)));
  CHECK_FALSE(usable(make(0, 1, 1, 32)));  // PKIX-TA
  CHECK_FALSE(usable(make(1, 1, 1, 32)));  // PKIX-EE
  CHECK_FALSE(usable(make(4, 1, 1, 32)));  // unassigned usage
  CHECK_FALSE(usable(make(255, 1, 1, 32)));
}

TEST_CASE("unknown selectors and matching types are unusable (RFC 6698 4.1)") {
  CHECK_FALSE(usable(make(3, 2, 1, 32)));
  CHECK_FALSE(usable(make(3, 1, 3, 32)));
  CHECK_FALSE(usable(make(3, 1, 255, 32)));
}

TEST_CASE("digests of the wrong length are unusable (RFC 7671 10.1.2)") {
  CHECK_FALSE(usable(make(3, 1, 1, 31)));
  CHECK_FALSE(usable(make(3, 1, 1, 33)));
  CHECK_FALSE(usable(make(3, 1, 1, 64)));
  CHECK_FALSE(usable(make(3, 1, 2, 32)));
  CHECK_FALSE(usable(make(3, 1, 0, 0)));
}

TEST_CASE("TLSA RDATA: three octets then the association data") {
  const std::string wire = std::string("\x03\x01\x01", 3) + std::string(32, '\x11');
  auto t = parse_tlsa_rdata(wire);
  REQUIRE(t);
  CHECK(t->usage == 3);
  CHECK(t->selector == 1);
  CHECK(t->mtype == 1);
  CHECK(t->data.size() == 32);
  CHECK(usable(*t));
  CHECK(to_text(*t) == "3 1 1 " + std::string(64, '1'));
  CHECK_FALSE(parse_tlsa_rdata(std::string("\x03\x01\x01", 3)));
  CHECK_FALSE(parse_tlsa_rdata(""));
}
