#pragma once
// Whether the configured resolver validates DNSSEC at all, judged from the AD
// bit of its answers. Without validation no TLSA record can be trusted (RFC
// 7672 §2.1.1), so DANE is "inert" and every answer falls back to MTA-STS: the
// admin is told once, and again when the resolver starts validating.
// Most domains are unsigned and even a validating resolver sets no AD bit for
// them, so only a run of lookups without one, or an unauthenticated answer for
// the signed root zone's DNSKEY, calls the resolver inert.
#include <cstdint>
#include <string_view>

namespace mtasts::resolver {

class ValidationWatch {
 public:
  // Lookups in a row without any AD bit, before the resolver is called inert.
  static constexpr std::uint64_t kInertAfter = 10;

  // A DANE lookup ended; authenticated: some answer in it carried the AD bit.
  void lookup(bool authenticated);
  // The root zone's DNSKEY set came back: a validating resolver with the root
  // trust anchor sets AD on it, so a "no" decides at once.
  void root_dnskey(bool authenticated);
  // "unknown" (no answer with the AD bit yet), "active" or "inert".
  std::string_view status() const;

 private:
  bool validating_ = false;            // some answer carried the AD bit
  bool inert_ = false;                 // warned: the resolver does not validate
  std::uint64_t unauthenticated_ = 0;  // lookups without any AD bit, before validating_
};

}  // namespace mtasts::resolver
