#pragma once
// TLSA records (RFC 6698) and which of them SMTP can use (RFC 7672 §3.1).
// Pure logic.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace mtasts::dane {

struct Tlsa {
  std::uint8_t usage = 0;     // certificate usage
  std::uint8_t selector = 0;  // 0 full certificate, 1 SubjectPublicKeyInfo
  std::uint8_t mtype = 0;     // matching type: 0 exact, 1 SHA-256, 2 SHA-512
  std::string data;           // certificate association data (binary)
};

// The record's RDATA as on the wire: three octets then the association data.
// nullopt when shorter than four octets (RFC 6698 §2.1: data must not be empty).
std::optional<Tlsa> parse_tlsa_rdata(std::string_view rdata);

// RFC 7672 §3.1: SMTP clients use only DANE-TA(2) and DANE-EE(3); PKIX-TA(0) and
// PKIX-EE(1) are unusable (§3.1.3), as are unknown selectors and matching types
// (RFC 6698 §4.1; RFC 7671 §5) and digests of the wrong length (RFC 7671 §10.1.2).
bool usable(const Tlsa& record);

// Presentation form "U S M HEX" (RFC 6698 §2.2), hex lower-case.
std::string to_text(const Tlsa& record);

}  // namespace mtasts::dane
