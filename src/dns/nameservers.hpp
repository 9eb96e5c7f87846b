#pragma once
// Validation of the configured nameserver list before it reaches c-ares, whose
// own CSV parser silently skips or misreads malformed entries.
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace mtasts::dns {

struct Nameserver {
  std::string address;  // numeric IPv4 or IPv6, as given
  bool ipv6 = false;
  std::uint16_t port = 53;
};

// Parses "ADDR", "ADDR:PORT" or "[V6ADDR]:PORT" (a bare IPv6 address is ADDR).
// Throws std::invalid_argument naming the entry when it is not one of these.
Nameserver parse_nameserver(std::string_view entry);

// "ADDR:PORT" or "[V6ADDR]:PORT": the form parse_nameserver() reads back and
// ares_set_servers_ports_csv() reads unambiguously.
std::string format_nameserver(const Nameserver& ns);

// The list in the form ares_set_servers_ports_csv() reads unambiguously:
// "1.2.3.4:53,[::1]:5353". Throws like parse_nameserver().
std::string nameservers_csv(const std::vector<std::string>& entries);

}  // namespace mtasts::dns
