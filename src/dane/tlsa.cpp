#include "dane/tlsa.hpp"

#include <fmt/format.h>

namespace mtasts::dane {

std::optional<Tlsa> parse_tlsa_rdata(std::string_view rdata) {
  if (rdata.size() < 4) return std::nullopt;
  Tlsa t;
  t.usage = static_cast<std::uint8_t>(rdata[0]);
  t.selector = static_cast<std::uint8_t>(rdata[1]);
  t.mtype = static_cast<std::uint8_t>(rdata[2]);
  t.data.assign(rdata.substr(3));
  return t;
}

bool usable(const Tlsa& r) {
  // §3.1: only DANE-TA(2) and DANE-EE(3) authenticate an SMTP server.
  if (r.usage != 2 && r.usage != 3) return false;
  // RFC 6698 §2.1.2: selector 0 (Cert) or 1 (SPKI); anything else is unknown.
  if (r.selector > 1) return false;
  switch (r.mtype) {
    case 0:  // Full(0): the whole object, never empty
      return !r.data.empty();
    case 1:  // SHA2-256
      return r.data.size() == 32;
    case 2:  // SHA2-512
      return r.data.size() == 64;
    default:
      return false;
  }
}

std::string to_text(const Tlsa& r) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out = fmt::format("{} {} {} ", r.usage, r.selector, r.mtype);
  out.reserve(out.size() + 2 * r.data.size());
  for (unsigned char c : r.data) {
    out += kHex[c >> 4];
    out += kHex[c & 15];
  }
  return out;
}

}  // namespace mtasts::dane
