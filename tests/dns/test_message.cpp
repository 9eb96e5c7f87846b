// The ldns-based message layer on its own: names, queries, hostile answers.
#include <doctest/doctest.h>

#include <random>

#include "dns/message.hpp"
#include "dns_test_server.hpp"

using namespace mtasts::dns;
using namespace mtasts::dns::testing;

TEST_CASE("canonical names are lower-case without the trailing dot") {
  CHECK(canonical_name("Mta-STS.Example.COM.") == "mta-sts.example.com");
  CHECK(canonical_name("example.com") == "example.com");
  CHECK(canonical_name(".") == ".");
  CHECK_FALSE(canonical_name(""));
  CHECK_FALSE(canonical_name("a..b"));
  CHECK_FALSE(canonical_name(std::string(64, 'a')));
}

TEST_CASE("queries carry one question, RD, EDNS0; AD and DO only for DNSSEC") {
  auto plain = build_query("example.com", LDNS_RR_TYPE_TXT, false);
  REQUIRE(plain);
  auto q = question_of(*plain);
  REQUIRE(q);
  CHECK(q->name == "example.com.");
  CHECK(q->type == LDNS_RR_TYPE_TXT);
  CHECK(q->udp_size == kEdnsUdpSize);
  CHECK_FALSE(q->ad);
  CHECK_FALSE(q->dnssec_ok);
  CHECK(((*plain)[2] & 0x01) == 0x01);  // RD
  // c-ares' EDNS fallback strips the last 11 bytes: the OPT record must be last.
  CHECK(plain->size() == 12 + 13 + 4 + 11);

  auto sec = build_query("example.com", LDNS_RR_TYPE_TLSA, true);
  REQUIRE(sec);
  auto s = question_of(*sec);
  REQUIRE(s);
  CHECK(s->ad);
  CHECK(s->dnssec_ok);
}

TEST_CASE("random and mutated answers never crash the readers") {
  auto query = build_query("_mta-sts.example.com", LDNS_RR_TYPE_TXT, false);
  REQUIRE(query);
  ReplySpec spec;
  spec.answers = {"_mta-sts.example.com. 300 IN CNAME x.example.com.",
                  "x.example.com. 300 IN TXT \"v=STSv1; \" \"id=1\"",
                  "x.example.com. 300 IN MX 10 mx.example.com."};
  const Bytes good = make_reply(*query, spec);
  std::mt19937 rng(12345);
  int ok = 0;
  for (int i = 0; i < 20000; ++i) {
    Bytes msg = good;
    if (i % 4 == 0) {
      msg.resize(rng() % 600);
      for (auto& b : msg) b = static_cast<unsigned char>(rng());
    } else {
      for (int flips = 1 + static_cast<int>(rng() % 4); flips > 0; --flips) {
        msg[rng() % msg.size()] = static_cast<unsigned char>(rng());
      }
      if (rng() % 3 == 0) msg.resize(rng() % msg.size());
    }
    for (std::uint16_t type : {LDNS_RR_TYPE_TXT, LDNS_RR_TYPE_MX, LDNS_RR_TYPE_A}) {
      std::vector<std::string> chain{"_mta-sts.example.com"};
      Answer a = read_answer(msg, type, chain);
      if (a.outcome.status == Status::ok) {
        ++ok;
        CHECK_FALSE(a.records.empty());
      }
      CHECK(chain.size() <= kMaxCnameHops + 1);
    }
    (void)read_raw(msg);
  }
  CHECK(ok > 0);
}
