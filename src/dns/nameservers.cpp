#include "dns/nameservers.hpp"

#include <arpa/inet.h>

#include <charconv>
#include <stdexcept>

namespace mtasts::dns {
namespace {

[[noreturn]] void reject(std::string_view entry, std::string_view why) {
  throw std::invalid_argument("invalid nameserver \"" + std::string(entry) +
                              "\": " + std::string(why));
}

bool is_ipv4(const std::string& text) {
  in_addr a{};
  return inet_pton(AF_INET, text.c_str(), &a) == 1;
}

bool is_ipv6(const std::string& text) {
  in6_addr a{};
  return inet_pton(AF_INET6, text.c_str(), &a) == 1;
}

std::uint16_t parse_port(std::string_view entry, std::string_view digits) {
  unsigned value = 0;
  const char* end = digits.data() + digits.size();
  auto [ptr, ec] = std::from_chars(digits.data(), end, value);
  if (digits.empty() || ec != std::errc{} || ptr != end || value == 0 || value > 65535) {
    reject(entry, "port must be a number from 1 to 65535");
  }
  return static_cast<std::uint16_t>(value);
}

}  // namespace

Nameserver parse_nameserver(std::string_view entry) {
  Nameserver ns;
  if (entry.empty()) reject(entry, "empty entry");
  if (entry.front() == '[') {
    const auto close = entry.find(']');
    if (close == std::string_view::npos) reject(entry, "missing ']'");
    ns.address = std::string(entry.substr(1, close - 1));
    ns.ipv6 = true;
    if (!is_ipv6(ns.address)) reject(entry, "not an IPv6 address inside [...]");
    const auto rest = entry.substr(close + 1);
    if (!rest.empty()) {
      if (rest.front() != ':') reject(entry, "expected ':PORT' after ']'");
      ns.port = parse_port(entry, rest.substr(1));
    }
    return ns;
  }
  const auto colon = entry.find(':');
  if (colon != std::string_view::npos && entry.find(':', colon + 1) == std::string_view::npos) {
    ns.address = std::string(entry.substr(0, colon));
    if (!is_ipv4(ns.address)) reject(entry, "not an IPv4 address before ':PORT'");
    ns.port = parse_port(entry, entry.substr(colon + 1));
    return ns;
  }
  ns.address = std::string(entry);
  if (is_ipv4(ns.address)) return ns;
  if (is_ipv6(ns.address)) {
    ns.ipv6 = true;
    return ns;
  }
  reject(entry, "not a numeric IPv4 or IPv6 address");
}

std::string format_nameserver(const Nameserver& ns) {
  return (ns.ipv6 ? "[" + ns.address + "]" : ns.address) + ':' + std::to_string(ns.port);
}

std::string nameservers_csv(const std::vector<std::string>& entries) {
  std::string csv;
  for (const auto& entry : entries) {
    if (!csv.empty()) csv += ',';
    csv += format_nameserver(parse_nameserver(entry));
  }
  return csv;
}

}  // namespace mtasts::dns
