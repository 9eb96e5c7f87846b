#pragma once
// From what DNSSEC said about a destination's MX hosts and their TLSA records to
// one DANE verdict (RFC 7672 §2.2). Pure logic: the lookups happen elsewhere.
#include <cstddef>
#include <string>
#include <vector>

#include "dane/level.hpp"
#include "dane/tlsa.hpp"

namespace mtasts::dane {

// The TLSA RRset of one MX host, `_port._tcp.host` (RFC 7672 §2.2.3).
struct HostTlsa {
  enum class State {
    usable,    // authenticated, at least one usable record
    unusable,  // authenticated records, none usable (Postfix: mandatory TLS, no authentication)
    none,      // authenticated denial: the host has no TLSA records
    insecure,  // not authenticated (no AD bit): ignored (RFC 7672 §2.2)
    failed,    // the lookup failed (SERVFAIL, timeout, bogus): unknown
  };
  std::string host;
  State state = State::failed;
  std::vector<Tlsa> records;  // as published, when authenticated
  std::string error;          // for failed: what happened
};

struct Evidence {
  // The MX RRset (or its authenticated non-existence) had the AD bit; true for
  // "[host]:port" destinations, which involve no MX lookup.
  bool mx_secure = false;
  bool implicit_mx = false;  // no MX records: the domain itself (RFC 7672 §2.2.2, RFC 5321 §5.1)
  bool null_mx = false;      // "MX 0 ." (RFC 7505): the domain accepts no mail
  std::size_t skipped = 0;   // MX hosts beyond the lookup limit, not examined
  std::vector<HostTlsa> hosts;
};

enum class Verdict {
  none,       // no secure TLSA anywhere: MTA-STS decides
  dane,       // partial DANE: Postfix's opportunistic "dane"
  dane_only,  // every MX host authenticated by DANE: "dane-only"
  temp,       // nothing definite could be learned: try again later
};

const char* to_string(HostTlsa::State state);
const char* to_string(Verdict verdict);

// The MX lookup itself failed: always temp.
// Otherwise:
//   every host usable, MX secure, none skipped               -> dane_only
//   every host failed                                        -> temp
//   any host usable/unusable, or failed next to answered ones -> dane
//   else                                                     -> none
Verdict evaluate(const Evidence& evidence);

// dane::Level for a definite verdict (temp has none).
Level level_of(Verdict verdict);

// One line for logs and mta-stsctl: "mx secure; mx1.example.com usable (3 1 1 ab12…); ...".
std::string summarize(const Evidence& evidence);

}  // namespace mtasts::dane
