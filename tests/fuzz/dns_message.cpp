// DNS responses (src/dns/message.hpp) from arbitrary bytes: the readers used
// for _mta-sts TXT (RFC 8461 §3.1), MX, A/AAAA with CNAMEs, and the AD bit.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <vector>

#include "dns/ldns.hpp"
#include "dns/message.hpp"
#include "fuzz_check.hpp"

using namespace mtasts::dns;

namespace {

// The question's name, as the resolver's chain would start; a fixed name when
// the bytes hold no question ldns can read.
std::string question_name(const std::vector<unsigned char>& message) {
  std::string name = "_mta-sts.example.com";
  ldns_pkt* pkt = nullptr;
  if (ldns_wire2pkt(&pkt, message.data(), message.size()) != LDNS_STATUS_OK) return name;
  const ldns_rr_list* questions = ldns_pkt_question(pkt);
  if (questions != nullptr && ldns_rr_list_rr_count(questions) >= 1) {
    if (char* text = ldns_rdf2str(ldns_rr_owner(ldns_rr_list_rr(questions, 0)))) {
      if (auto canonical = canonical_name(text)) name = *canonical;
      std::free(text);
    }
  }
  ldns_pkt_free(pkt);
  return name;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::vector<unsigned char> message(data, data + size);
  const std::string start = question_name(message);
  FUZZ_CHECK(canonical_name(start) == start);  // canonical form is a fixed point

  for (const std::uint16_t type : {LDNS_RR_TYPE_TXT, LDNS_RR_TYPE_MX, LDNS_RR_TYPE_A,
                                   LDNS_RR_TYPE_AAAA, LDNS_RR_TYPE_CNAME, LDNS_RR_TYPE_TLSA}) {
    std::vector<std::string> chain{start};
    const Answer answer = read_answer(message, type, chain);
    FUZZ_CHECK(!chain.empty() && chain.front() == start);
    FUZZ_CHECK(chain.size() <= kMaxCnameHops + 1);
    if (answer.outcome.status == Status::ok) {
      FUZZ_CHECK(!answer.records.empty() && !answer.follow);
    } else {
      FUZZ_CHECK(answer.records.empty());
    }
    if (answer.follow) {
      FUZZ_CHECK(chain.size() >= 2);  // follow names the CNAME target, chain.back()
    }
    for (const auto& name : chain) {
      FUZZ_CHECK(canonical_name(name) == name);
    }
    if (type == LDNS_RR_TYPE_TLSA && answer.outcome.status == Status::ok) {
      for (const auto& record : answer.records) {
        FUZZ_CHECK(record.data.size() >= 4);  // usage, selector, type, data (RFC 6698 §2.1)
      }
    }
    if (type == LDNS_RR_TYPE_MX && answer.outcome.status == Status::ok) {
      for (const auto& record : answer.records) {
        FUZZ_CHECK(canonical_name(record.data) == record.data);
      }
    }
  }
  (void)read_raw(message);
  return 0;
}
