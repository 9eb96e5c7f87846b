#include "config/nameserver.hpp"

#include <arpa/inet.h>

#include <charconv>

namespace mtasts::config {
namespace {

bool valid_address(const std::string& text, int family) {
  unsigned char buf[16];
  return inet_pton(family, text.c_str(), buf) == 1;
}

// 1..65535, digits only: from_chars stops at the first non-digit, so check
// that it used every character.
std::optional<std::uint16_t> parse_port(std::string_view text) {
  if (text.empty() || text.size() > 5) return std::nullopt;
  unsigned value = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size() || value == 0 || value > 65535)
    return std::nullopt;
  return static_cast<std::uint16_t>(value);
}

}  // namespace

std::optional<Nameserver> parse_nameserver(std::string_view text) {
  // inet_pton reads a C string: an embedded NUL would hide the rest.
  if (text.empty() || text.size() > 64 || text.find('\0') != std::string_view::npos)
    return std::nullopt;
  Nameserver ns;
  if (text.front() == '[') {
    const auto close = text.find(']');
    if (close == std::string_view::npos) return std::nullopt;
    ns.address = std::string(text.substr(1, close - 1));
    ns.ipv6 = true;
    const auto rest = text.substr(close + 1);
    if (!rest.empty()) {
      if (rest.front() != ':') return std::nullopt;
      const auto port = parse_port(rest.substr(1));
      if (!port) return std::nullopt;
      ns.port = *port;
    }
    if (!valid_address(ns.address, AF_INET6)) return std::nullopt;
    return ns;
  }
  const auto colon = text.find(':');
  if (colon != std::string_view::npos && text.find(':', colon + 1) != std::string_view::npos) {
    // Two or more colons: a bare IPv6 address, which cannot carry a port.
    ns.address = std::string(text);
    ns.ipv6 = true;
    if (!valid_address(ns.address, AF_INET6)) return std::nullopt;
    return ns;
  }
  ns.address = std::string(text.substr(0, colon));
  if (colon != std::string_view::npos) {
    const auto port = parse_port(text.substr(colon + 1));
    if (!port) return std::nullopt;
    ns.port = *port;
  }
  if (!valid_address(ns.address, AF_INET)) return std::nullopt;
  return ns;
}

}  // namespace mtasts::config
