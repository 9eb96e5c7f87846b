#pragma once
// One DANE discovery (RFC 7672 §2.2) for one destination: the MX RRset with its
// DNSSEC status, then the TLSA RRset of each MX host, in parallel. It reports
// what DNS said; dane::evaluate turns that into a verdict.
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "dane/verdict.hpp"
#include "resolver/network.hpp"

namespace mtasts::resolver {

// MX hosts examined per destination; the rest count as unknown (no dane-only).
inline constexpr std::size_t kMaxDaneHosts = 16;

struct DaneTarget {
  std::string name;            // the domain, or the host of a "[host]:port" next hop
  bool explicit_host = false;  // "[host]" / "[host]:port": no MX lookup (RFC 7672 §2.2.2)
  std::uint16_t port = 25;     // TLSA at _port._tcp.HOST
};

// The cache key of a target: "domain", "domain:port" (port other than 25), or
// "[host]:port".
std::string dane_destination(const DaneTarget& target);
// The inverse, for refreshing cached destinations; nullopt when not one.
std::optional<DaneTarget> parse_dane_destination(std::string_view destination);

struct DaneDiscovery {
  dane::Evidence evidence;
  dane::Verdict verdict = dane::Verdict::temp;
  std::uint32_t ttl = 0;           // smallest TTL of the answers used; 0 unknown
  bool saw_authenticated = false;  // some response had the AD bit
  std::string reason;              // for temp: what failed
  bool overloaded = false;         // not looked up at all (no slot): not a DNS failure
  // Some lookup ended in SERVFAIL: from a validating resolver, bogus DNSSEC (RFC 4035 §5.5).
  bool servfail = false;
};

void discover_dane(DnsPort& dns, const DaneTarget& target, std::function<void(DaneDiscovery)> done);

}  // namespace mtasts::resolver
