// plan_reload (daemon/reload.hpp): what a reload applies in place, what it
// leaves for a restart, and that nothing changed is nothing applied.
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "daemon/reload.hpp"

using mtasts::config::Config;
using mtasts::daemon::plan_reload;

TEST_CASE("reload: the same configuration applies nothing and needs no restart") {
  Config c;
  c.zones["strict"].strict_testing = true;
  const auto plan = plan_reload(c, c);
  CHECK(plan.applied.empty());
  CHECK(plan.restart_needed.empty());
  CHECK(plan.running == c);
}

TEST_CASE("reload: zone options, timings, DANE rules, refresh, DNS and log level apply in place") {
  Config running;
  running.zones["strict"];
  Config next = running;
  next.zones["strict"].strict_testing = true;
  next.default_zone.timeout = 9;
  next.log_level = "debug";
  next.cache_grace = 5;
  next.negative_ttl = 60;
  next.retry_interval = 90;
  next.dane.on_failure = "sts";
  next.proactive_policy_fetching.interval = 600;
  next.nameservers = {"127.0.0.53"};
  next.max_connections = 10;
  next.request_timeout = 3;
  const auto plan = plan_reload(running, next);
  CHECK(plan.applied ==
        std::vector<std::string>{"log_level", "default_zone", "zones", "cache_grace",
                                 "limits.negative_ttl", "limits.retry_interval",
                                 "proactive_policy_fetching", "resolver.nameservers",
                                 "limits.max_connections", "limits.request_timeout", "dane"});
  CHECK(plan.restart_needed.empty());
  CHECK(plan.running == next);
}

TEST_CASE("reload: the discovery limit, alarm margins, log target and metrics apply in place") {
  Config running;
  Config next = running;
  next.max_concurrent_resolutions = 16;
  next.alarm_expiry_warning = {3 * 86400};
  next.log.target = "syslog";
  next.log.facility = "local3";
  next.metrics.listen = "127.0.0.1:9461";
  const auto plan = plan_reload(running, next);
  CHECK(plan.applied == std::vector<std::string>{"limits.max_concurrent_resolutions",
                                                 "alarms.expiry_warning", "log", "metrics"});
  CHECK(plan.restart_needed.empty());
  CHECK(plan.running == next);
}

TEST_CASE("reload: listeners, the cache and privileges wait for a restart; new zones do not") {
  Config running;
  running.zones["strict"];
  Config next = running;
  next.port = 9999;
  next.cache.type = "redis";
  next.privileges.user = "nobody";
  next.zones["tlsrpt"].tlsrpt = true;  // a zone added
  next.zones["strict"].strict_testing = true;
  next.ca_file = "/etc/ssl/other.pem";
  next.dane.enabled = false;
  next.cache_grace = 7;
  const auto plan = plan_reload(running, next);
  CHECK(plan.applied == std::vector<std::string>{"zones", "cache_grace", "tls.ca_file"});
  CHECK(plan.restart_needed ==
        std::vector<std::string>{"dane.enabled", "port", "cache", "privileges"});
  // The running configuration keeps what was not applied.
  CHECK(plan.running.port == running.port);
  CHECK(plan.running.cache.type == running.cache.type);
  CHECK(plan.running.zones == next.zones);  // a zone added (and one changed) apply in place
  CHECK(plan.running.dane.enabled == running.dane.enabled);
  CHECK(plan.running.cache_grace == 7);
}
