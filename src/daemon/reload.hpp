#pragma once
// A configuration reload (SIGHUP, mta-stsctl reload): which changed keys the
// running daemon applies in place, and which only a restart can (a listener, the
// cache backend, privileges...). Pure: the daemon applies the plan.
#include <string>
#include <vector>

#include "config/config.hpp"

namespace mtasts::daemon {

struct ReloadPlan {
  config::Config running;                   // what is in force once the plan is applied
  std::vector<std::string> applied;         // changed keys applied in place
  std::vector<std::string> restart_needed;  // changed keys kept as they were until a restart
};

// Applied in place: log_level, default_zone and the zones (added, removed, their options),
// cache_grace, limits.negative_ttl, limits.retry_interval, dane.on_failure and
// its TTL bounds, proactive_policy_fetching, the socketmap limits
// (max_connections, max_request_bytes, idle_timeout, request_timeout),
// resolver.nameservers, tls.ca_file, log (target and facility), metrics.listen
// (the last four the daemon may still refuse: it then keeps the running ones).
// Everything else that changed is listed in restart_needed and keeps its
// running value.
ReloadPlan plan_reload(const config::Config& running, const config::Config& next);

}  // namespace mtasts::daemon
