#include "config/listen_address.hpp"

#include "config/nameserver.hpp"

namespace mtasts::config {

std::optional<ListenAddress> parse_listen_address(std::string_view text) {
  // The same literal forms as resolver.nameservers, but the port is required:
  // "ADDR" alone or a bare IPv6 address (no brackets) would name port 53 there.
  const bool bracketed = text.starts_with('[');
  const bool has_port = bracketed ? text.find("]:") != std::string_view::npos
                                  : text.find(':') != std::string_view::npos;
  if (!has_port) return std::nullopt;
  const auto parsed = parse_nameserver(text);
  if (!parsed || (!bracketed && parsed->ipv6)) return std::nullopt;
  return ListenAddress{parsed->address, parsed->port};
}

}  // namespace mtasts::config
