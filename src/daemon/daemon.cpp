#include "daemon/daemon.hpp"

#include <signal.h>
#include <systemd/sd-daemon.h>
#include <unistd.h>

#include <spdlog/spdlog.h>
#include <algorithm>
#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>

#include "cache/store.hpp"
#include "control/protocol.hpp"
#include "daemon/control.hpp"
#include "daemon/daemon_metrics.hpp"
#include "daemon/logging.hpp"
#include "daemon/policy_handler.hpp"
#include "daemon/reload.hpp"
#include "daemon/startup.hpp"
#include "resolver/refresher.hpp"
#include "setup/setup.hpp"
#include "socketmap/server.hpp"
#include "util/clock.hpp"

namespace mtasts::daemon {

namespace {

std::chrono::milliseconds seconds_to_ms(double seconds) {
  return std::chrono::milliseconds(static_cast<std::int64_t>(seconds * 1000.0));
}

}  // namespace

int run(const config::Config& config, const ConfigSource& source) {
  ::signal(SIGPIPE, SIG_IGN);
  Accounts accounts;
  if (const int code = check_accounts(config, accounts); code != 0) return code;
  boost::asio::io_context io(1);
  // Declared after io: destroyed before it, as the Redis store requires.
  std::unique_ptr<cache::PolicyStore> store;
  try {
    store = setup::make_store(config.cache, io);
  } catch (const std::exception& e) {
    spdlog::critical("cannot start: {}", e.what());
    return 1;
  }

  util::SystemClock clock;
  std::unique_ptr<dns::Resolver> dns;
  std::unique_ptr<http::Fetcher> https;
  try {
    dns = std::make_unique<dns::Resolver>(io, setup::resolver_options(config));
    https = std::make_unique<http::Fetcher>(io, setup::fetcher_options(config));
  } catch (const std::exception& e) {
    spdlog::critical("cannot start: {}", e.what());
    return 1;
  }
  resolver::AsioTimers timers(io);
  resolver::NetworkDns dns_port(*dns);
  resolver::NetworkHttps https_port(*https);
  resolver::DaneResolver dane(timers, dns_port, clock, setup::dane_settings(config), store.get());
  resolver::PolicyResolver policies(timers, dns_port, https_port, clock, setup::zones(config),
                                    setup::resolver_settings(config), store.get(), &dane);
  resolver::Refresher refresher(timers, clock, policies);
  // metrics.listen: answers are timed and counted only once someone reads them
  // (set at start or by a reload), and from then on until the daemon stops:
  // queries in flight hold the handler's counters.
  std::unique_ptr<DaemonMetrics> exported;
  PolicyHandler handler(policies);
  auto start_counting = [&] {
    std::vector<std::string> zone_names;  // by index, as the resolver has them
    for (const auto& zone : policies.zones()) zone_names.push_back(zone.name);
    exported = std::make_unique<DaemonMetrics>(zone_names);
    policies.set_observer(&exported->observer());
    handler.set_metrics(&exported->answers());
  };
  if (!config.metrics.listen.empty()) start_counting();
  if (store) {
    const auto started = std::chrono::steady_clock::now();
    const auto loaded = policies.stored().load();
    const auto loaded_dane = dane.load_store();
    const auto elapsed = std::chrono::duration_cast<std::chrono::milliseconds>(
                             std::chrono::steady_clock::now() - started)
                             .count();
    if (loaded.in_memory < loaded.stored) {
      spdlog::info(
          "loaded {} cached policies ({} kept in memory, cache_size {}; the rest answer from the "
          "store) and {} DANE results from {} in {} ms",
          loaded.stored, loaded.in_memory, config.cache.cache_size, loaded_dane, store->describe(),
          elapsed);
    } else {
      spdlog::info("loaded {} cached policies and {} DANE results from {} in {} ms", loaded.stored,
                   loaded_dane, store->describe(), elapsed);
    }
    if (!loaded.complete) {
      spdlog::warn(
          "{} could not be read in full at start: a domain whose policy it may hold is answered "
          "TEMP, not NOTFOUND, until the store answers or the domain's own policy is fetched",
          store->describe());
    }
  }
  dane.probe();
  {
    const auto& p = config.proactive_policy_fetching;
    refresher.start(
        resolver::ProactiveSettings{p.enabled, p.interval, p.grace_ratio, p.concurrency_limit});
  }
  socketmap::Server server(io, listener_options(config, accounts), handler);
  try {
    server.start();
  } catch (const std::exception& e) {
    spdlog::critical("cannot listen: {}", e.what());
    return 1;
  }
  // mta-stsctl's channel; mail flows without it if it cannot listen.
  auto control = start_control_server(io, config, policies, clock);
  // Prometheus's endpoint; like the control socket, mail flows without it.
  std::unique_ptr<metrics::HttpServer> metrics_http;
  auto watch = [&] {
    exported->watch(policies, server, clock);
    if (store) exported->watch_store(*store, clock);
  };
  if (exported) {
    watch();
    try {
      metrics_http = start_metrics_server(io, config, *exported);
      spdlog::info("metrics: serving http://{}/metrics", metrics_http->local_endpoint());
    } catch (const std::exception& e) {
      spdlog::error("{}; running without /metrics", e.what());
    }
  }
  // Everything that needs root is done: sockets bound, store open.
  if (!drop_privileges_if_asked(config, accounts)) return 1;
  std::string where;
  for (const auto& endpoint : server.local_endpoints()) {
    where += where.empty() ? endpoint : ", " + endpoint;
  }
  spdlog::info("mta-stsd {} listening on {} (cache {}, {} zone(s), nameservers {})",
               MTASTSD_VERSION, where, config.cache.type, config.zones.size() + 1,
               config.nameservers.empty() ? std::string("from /etc/resolv.conf")
                                          : fmt::format("{}", fmt::join(config.nameservers, ",")));
  sd_notify(0, "READY=1");

  boost::asio::signal_set signals(io, SIGTERM, SIGINT);
  boost::asio::signal_set hangup(io, SIGHUP);
  boost::asio::steady_timer drain(io);
  const auto deadline = std::chrono::steady_clock::now() + seconds_to_ms(config.shutdown_timeout);
  std::function<void()> wait_drained;
  wait_drained = [&] {
    if (server.connection_count() == 0 || std::chrono::steady_clock::now() >= deadline) {
      if (server.connection_count() > 0) {
        spdlog::warn("shutdown_timeout reached: closing {} connection(s)",
                     server.connection_count());
      }
      server.close_all();
      io.stop();
      return;
    }
    drain.expires_after(std::chrono::milliseconds(50));
    drain.async_wait([&](const boost::system::error_code& ec) {
      if (!ec) wait_drained();
    });
  };
  signals.async_wait([&](const boost::system::error_code& ec, int signo) {
    if (ec) return;
    spdlog::info("signal {}: stopping (draining {} connection(s), at most {}s)", signo,
                 server.connection_count(), config.shutdown_timeout);
    sd_notify(0, "STOPPING=1");
    server.stop_accepting();
    if (control) control->stop();
    if (metrics_http) metrics_http->stop();
    hangup.cancel();
    wait_drained();
  });

  // SIGHUP and mta-stsctl reload: the file is read again and what can change
  // in place does (daemon/reload.hpp), without dropping the cache or a
  // connection; a file that does not load changes nothing.
  config::Config running = config;
  auto reload = [&](std::string_view why) -> std::string {
    if (source.path.empty()) {
      spdlog::warn("{}: started with the embedded configuration (no -c): nothing to re-read", why);
      return control::error_json("no configuration file to re-read (started without -c)");
    }
    config::LoadResult loaded;
    try {
      loaded = config::load_config_file(source.path);
    } catch (const config::ConfigError& e) {
      spdlog::error("{}: configuration not reloaded, the running one stays: {}", why, e.what());
      return control::error_json(std::string("configuration not reloaded: ") + e.what());
    }
    for (const auto& warning : loaded.warnings) spdlog::warn("configuration: {}", warning);
    if (!source.log_level_override.empty()) {
      loaded.config.log_level = source.log_level_override;
    }
    auto plan = plan_reload(running, loaded.config);
    // What the plan applies but the daemon cannot: the running value stays.
    std::vector<std::string> refused;
    auto refuse = [&](const std::string& key, const std::string& reason) {
      spdlog::error("{}: {} not changed: {}", why, key, reason);
      std::erase(plan.applied, key);
      refused.push_back(key + " (" + reason + ")");
    };
    if (plan.running.ca_file != running.ca_file) {
      if (!plan.running.ca_file.empty() && ::access(plan.running.ca_file.c_str(), R_OK) != 0) {
        refuse("tls.ca_file", plan.running.ca_file + " cannot be read");
        plan.running.ca_file = running.ca_file;
      } else {
        https->set_ca_file(plan.running.ca_file);
      }
    }
    if (plan.running.nameservers != running.nameservers) {
      try {
        dns->set_nameservers(plan.running.nameservers);
      } catch (const std::exception& e) {
        refuse("resolver.nameservers", e.what());
        plan.running.nameservers = running.nameservers;
      }
    }
    if (plan.running.log != running.log) {
      try {
        switch_log_target(plan.running.log);
      } catch (const std::exception& e) {
        refuse("log", e.what());
        plan.running.log = running.log;
      }
    }
    if (plan.running.metrics != running.metrics) {
      // The new endpoint listens before the old one closes: if it cannot (the
      // address is taken, or a port below 1024 after the privilege drop), the
      // running one stays.
      try {
        if (plan.running.metrics.listen.empty()) {
          if (metrics_http) metrics_http->stop();
          metrics_http.reset();
          spdlog::info("{}: /metrics no longer served (metrics.listen removed)", why);
        } else {
          if (!exported) {
            start_counting();
            watch();
          }
          auto next = start_metrics_server(io, plan.running, *exported);
          if (metrics_http) metrics_http->stop();
          metrics_http = std::move(next);
          spdlog::info("{}: metrics: serving http://{}/metrics", why,
                       metrics_http->local_endpoint());
        }
      } catch (const std::exception& e) {
        refuse("metrics", e.what());
        plan.running.metrics = running.metrics;
      }
    }
    if (plan.running.max_concurrent_resolutions != running.max_concurrent_resolutions) {
      https->set_max_concurrent(setup::fetcher_options(plan.running).max_concurrent);
    }
    running = plan.running;
    server.set_limits(setup::server_options(running));
    spdlog::set_level(spdlog::level::from_str(running.log_level));
    // Only what changed: re-rendering every cached answer, or re-arming the
    // sweep (a reload every hour must not keep postponing a daily sweep), costs.
    const auto changed = [&](std::string_view key) {
      return std::find(plan.applied.begin(), plan.applied.end(), key) != plan.applied.end();
    };
    const auto zones =
        policies.reconfigure(setup::zones(running), setup::resolver_settings(running),
                             changed("default_zone") || changed("zones"));
    for (const auto& name : zones.added) {
      // The resolver gave it the next index; the metrics follow in that order.
      if (exported) exported->answers().add_zone(name);
      spdlog::info("{}: zone '{}' added: socketmap name {} selects it", why, name, name);
    }
    for (const auto& name : zones.retired) {
      spdlog::info("{}: zone '{}' removed: socketmap name {} gets the default zone's answers", why,
                   name, name);
    }
    dane.reconfigure(setup::dane_settings(running));
    if (changed("proactive_policy_fetching")) {
      const auto& p = running.proactive_policy_fetching;
      refresher.reconfigure(
          resolver::ProactiveSettings{p.enabled, p.interval, p.grace_ratio, p.concurrency_limit});
    }
    spdlog::log(
        plan.restart_needed.empty() && refused.empty() ? spdlog::level::info : spdlog::level::warn,
        "{}: configuration reloaded from {}: {}{}{}{}{}", why, source.path,
        plan.applied.empty() ? std::string("nothing changed that applies in place")
                             : fmt::format("applied {}", fmt::join(plan.applied, ", ")),
        plan.restart_needed.empty() ? "" : "; restart mta-stsd to apply ",
        fmt::format("{}", fmt::join(plan.restart_needed, ", ")),
        refused.empty() ? "" : "; not applied: ", fmt::format("{}", fmt::join(refused, ", ")));
    return control::dump(control::Json{{"reloaded", true},
                                       {"applied", plan.applied},
                                       {"restart_needed", plan.restart_needed},
                                       {"refused", refused}});
  };
  if (control) control->on_reload([&] { return reload("mta-stsctl reload"); });
  // SIGHUP must not kill the daemon, as its default action would.
  std::function<void()> wait_hangup = [&] {
    hangup.async_wait([&](const boost::system::error_code& ec, int) {
      if (ec) return;
      reload("SIGHUP");
      wait_hangup();
    });
  };
  wait_hangup();

  io.run();
  if (store) store->flush();
  const auto& s = policies.stats();
  spdlog::info("stopped: {} queries, {} cache hits, {} negative hits, {} discoveries", s.queries,
               s.hits, s.negative_hits, s.discoveries);
  return 0;
}

}  // namespace mtasts::daemon
