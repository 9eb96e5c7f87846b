// TLSA RDATA from strangers' zones, and the DANE verdict built on it.
// Invariants: a record that parses prints as "U S M HEX" with its bytes; usable
// records are exactly usages 2/3, selectors 0/1 and matching types 0/1/2 of the
// right length (RFC 7672 §3.1); the verdict table holds for any mix of hosts.
#include <cstddef>
#include <cstdint>
#include <string>

#include "dane/tlsa.hpp"
#include "dane/verdict.hpp"
#include "fuzz_check.hpp"

using namespace mtasts::dane;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string bytes(reinterpret_cast<const char*>(data), size);
  const auto record = parse_tlsa_rdata(bytes);
  FUZZ_CHECK(record.has_value() == (size >= 4));
  if (record) {
    FUZZ_CHECK(record->data.size() == size - 3);
    const std::string text = to_text(*record);
    FUZZ_CHECK(text.size() >= 2 * record->data.size() + 6);  // "U S M " then hex
    const bool lengths_ok = (record->mtype == 0 && !record->data.empty()) ||
                            (record->mtype == 1 && record->data.size() == 32) ||
                            (record->mtype == 2 && record->data.size() == 64);
    FUZZ_CHECK(usable(*record) ==
               ((record->usage == 2 || record->usage == 3) && record->selector <= 1 && lengths_ok));
  }

  // The bytes also describe a destination: bit 0 the MX RRset's status, each
  // further byte one host's TLSA state.
  if (size == 0) return 0;
  Evidence e;
  e.mx_secure = (data[0] & 1) != 0;
  e.null_mx = (data[0] & 2) != 0;
  e.skipped = (data[0] & 4) != 0 ? 1 : 0;
  std::size_t usable_hosts = 0, failed = 0, secure = 0;
  for (std::size_t i = 1; i < size && i <= 16; ++i) {
    HostTlsa h;
    h.host = "mx" + std::to_string(i) + ".example";
    h.state = static_cast<HostTlsa::State>(data[i] % 5);
    if (h.state == HostTlsa::State::usable) ++usable_hosts;
    if (h.state == HostTlsa::State::usable || h.state == HostTlsa::State::unusable) ++secure;
    if (h.state == HostTlsa::State::failed) ++failed;
    e.hosts.push_back(h);
  }
  const Verdict v = evaluate(e);
  const std::size_t n = e.hosts.size();
  if (e.null_mx || n == 0) {
    FUZZ_CHECK(v == Verdict::none);
  } else if (v == Verdict::dane_only) {
    FUZZ_CHECK(e.mx_secure && e.skipped == 0 && usable_hosts == n);
  } else if (v == Verdict::temp) {
    FUZZ_CHECK(failed == n);
  } else if (v == Verdict::none) {
    FUZZ_CHECK(secure == 0 && failed == 0);
  } else {
    FUZZ_CHECK(secure > 0 || failed > 0);
  }
  FUZZ_CHECK(!summarize(e).empty());
  return 0;
}
