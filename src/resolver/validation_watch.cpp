#include "resolver/validation_watch.hpp"

#include <spdlog/spdlog.h>

namespace mtasts::resolver {

void ValidationWatch::root_dnskey(bool authenticated) {
  if (!authenticated && !validating_ && !inert_) unauthenticated_ = kInertAfter - 1;
  lookup(authenticated);
}

std::string_view ValidationWatch::status() const {
  if (validating_) return "active";
  if (inert_) return "inert";
  return "unknown";
}

void ValidationWatch::lookup(bool authenticated) {
  if (authenticated) {
    if (!validating_ && inert_)
      spdlog::info("DANE: the resolver now sets the AD bit; DANE is active");
    validating_ = true;
    inert_ = false;
    return;
  }
  if (validating_ || inert_) return;
  if (++unauthenticated_ < kInertAfter) return;
  inert_ = true;
  spdlog::warn(
      "DANE is inert: the resolver never set the AD bit (DNSSEC validation) in {} lookups, so no "
      "TLSA record can be trusted and every answer falls back to MTA-STS; point "
      "resolver.nameservers at a local validating resolver such as unbound, or set "
      "dane.enabled: false",
      unauthenticated_);
}

}  // namespace mtasts::resolver
