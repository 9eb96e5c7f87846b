#pragma once
// resolver.nameservers entries: "ADDR", "ADDR:PORT", "[V6ADDR]" or
// "[V6ADDR]:PORT", with literal addresses only (a resolver cannot be found
// by name before there is a resolver).
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace mtasts::config {

struct Nameserver {
  std::string address;  // literal, without brackets
  std::uint16_t port = 53;
  bool ipv6 = false;
};

std::optional<Nameserver> parse_nameserver(std::string_view text);

}  // namespace mtasts::config
