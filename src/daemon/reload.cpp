#include "daemon/reload.hpp"

namespace mtasts::daemon {

ReloadPlan plan_reload(const config::Config& running, const config::Config& next) {
  ReloadPlan plan;
  plan.running = running;
  auto& now = plan.running;
  // A key applied in place: taken from the new file.
  auto live = [&](const char* key, auto member) {
    if (running.*member == next.*member) return;
    now.*member = next.*member;
    plan.applied.emplace_back(key);
  };
  // A key only a restart applies: the running value stays. `covered` collects
  // every key looked at, to catch one this list forgot (a key added later).
  config::Config covered;
  auto restart = [&](const char* key, auto member) {
    if (running.*member != next.*member) plan.restart_needed.emplace_back(key);
    covered.*member = next.*member;
  };
  using C = config::Config;
  live("log_level", &C::log_level);
  live("default_zone", &C::default_zone);
  // Zones added, removed or changed (PolicyResolver::reconfigure).
  live("zones", &C::zones);
  live("cache_grace", &C::cache_grace);
  live("limits.negative_ttl", &C::negative_ttl);
  live("limits.retry_interval", &C::retry_interval);
  live("proactive_policy_fetching", &C::proactive_policy_fetching);
  // Applied by the daemon (which may refuse them: an unreadable CA file, a
  // nameserver c-ares rejects) for lookups and fetches started from now on.
  live("resolver.nameservers", &C::nameservers);
  live("tls.ca_file", &C::ca_file);
  live("limits.max_connections", &C::max_connections);
  live("limits.max_request_bytes", &C::max_request_bytes);
  live("limits.idle_timeout", &C::idle_timeout);
  live("limits.request_timeout", &C::request_timeout);
  // Discoveries, DANE lookups and HTTPS transfers at once: queued work starts
  // under a raised limit; under a lowered one running work finishes first.
  live("limits.max_concurrent_resolutions", &C::max_concurrent_resolutions);
  live("alarms.expiry_warning", &C::alarm_expiry_warning);
  // log.target and log.facility: the daemon swaps the sink (it may refuse).
  live("log", &C::log);
  // metrics.listen: the daemon listens anew (it may refuse).
  live("metrics", &C::metrics);
  // DANE: its answers' rules in place; switching it on or off takes a restart.
  if (running.dane.enabled != next.dane.enabled) {
    plan.restart_needed.emplace_back("dane.enabled");
  }
  if (!(running.dane.on_failure == next.dane.on_failure &&
        running.dane.min_ttl == next.dane.min_ttl && running.dane.max_ttl == next.dane.max_ttl &&
        running.dane.stale_ttl == next.dane.stale_ttl)) {
    now.dane.on_failure = next.dane.on_failure;
    now.dane.min_ttl = next.dane.min_ttl;
    now.dane.max_ttl = next.dane.max_ttl;
    now.dane.stale_ttl = next.dane.stale_ttl;
    plan.applied.emplace_back("dane");
  }
  restart("host", &C::host);
  restart("port", &C::port);
  restart("path", &C::path);
  restart("mode", &C::mode);
  restart("owner", &C::owner);
  restart("group", &C::group);
  restart("reuse_port", &C::reuse_port);
  restart("control_socket", &C::control_socket);
  restart("shutdown_timeout", &C::shutdown_timeout);
  restart("cache", &C::cache);
  restart("privileges", &C::privileges);
  covered.log_level = now.log_level;
  covered.default_zone = now.default_zone;
  covered.zones = now.zones;
  covered.cache_grace = now.cache_grace;
  covered.negative_ttl = now.negative_ttl;
  covered.retry_interval = now.retry_interval;
  covered.proactive_policy_fetching = now.proactive_policy_fetching;
  covered.nameservers = now.nameservers;
  covered.ca_file = now.ca_file;
  covered.max_connections = now.max_connections;
  covered.max_request_bytes = now.max_request_bytes;
  covered.idle_timeout = now.idle_timeout;
  covered.request_timeout = now.request_timeout;
  covered.max_concurrent_resolutions = now.max_concurrent_resolutions;
  covered.alarm_expiry_warning = now.alarm_expiry_warning;
  covered.log = now.log;
  covered.metrics = now.metrics;
  covered.dane = now.dane;
  covered.dane.enabled = next.dane.enabled;
  if (covered != next && plan.restart_needed.empty()) {
    // Some key neither list names changed: say so rather than claim it applied.
    plan.restart_needed.emplace_back("other keys");
  }
  return plan;
}

}  // namespace mtasts::daemon
