#pragma once
// What DANE (RFC 7672) says about a destination, as far as choosing Postfix's
// TLS policy goes. Postfix does its own TLSA lookups once told `dane` or
// `dane-only`; the daemon only decides which of the two, or none.
#include <optional>
#include <string_view>

namespace mtasts::dane {

enum class Level {
  none,       // no secure TLSA record for any MX host: MTA-STS decides
  dane,       // some MX hosts have secure TLSA records (or records present but unusable,
              // or the MX RRset is insecure): opportunistic DANE, `OK dane`
  dane_only,  // secure MX RRset and every MX host has a usable secure TLSA RRset: `OK dane-only`
};

constexpr std::string_view to_string(Level level) {
  switch (level) {
    case Level::none:
      return "none";
    case Level::dane:
      return "dane";
    case Level::dane_only:
      return "dane-only";
  }
  return "none";
}

constexpr std::optional<Level> parse_level(std::string_view text) {
  if (text == "none") return Level::none;
  if (text == "dane") return Level::dane;
  if (text == "dane-only") return Level::dane_only;
  return std::nullopt;
}

}  // namespace mtasts::dane
