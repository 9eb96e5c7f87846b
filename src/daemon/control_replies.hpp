#pragma once
// The control channel's JSON replies that describe the lifecycle's state:
// `show` (a domain's policy, its DANE result, each zone's answer), `alarms` and
// `stats`. Pure renderers: the connection (daemon/control.cpp) sends them.
#include <cstdint>
#include <string>

#include "resolver/policy_resolver.hpp"

namespace mtasts::daemon {

// The policy `policies` holds for domain (memory only: the caller recalls a
// policy only the store holds first) and the DANE result of dane_key, the
// next hop ("[host]:port" keeps its own, RFC 7672 §2.2.2).
std::string show_json(const resolver::PolicyResolver& policies, const std::string& domain,
                      const std::string& dane_key, std::int64_t now);
// {"alarms": [{"subject", "kind", "before", "after", "reason", "since", "stage"}, ...]}
std::string alarms_json(const resolver::PolicyResolver& policies);
// The counters mta-stsctl stats prints.
std::string stats_json(const resolver::PolicyResolver& policies);

}  // namespace mtasts::daemon
