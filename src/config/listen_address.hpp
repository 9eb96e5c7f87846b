#pragma once
// metrics.listen: "ADDR:PORT" or "[V6ADDR]:PORT" with a literal address and an
// explicit port (an HTTP endpoint has no default port worth guessing).
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace mtasts::config {

struct ListenAddress {
  std::string address;  // literal, without brackets
  std::uint16_t port = 0;
};

std::optional<ListenAddress> parse_listen_address(std::string_view text);

}  // namespace mtasts::config
