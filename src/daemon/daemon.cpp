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
#include "daemon/control.hpp"
#include "daemon/policy_handler.hpp"
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

int run(const config::Config& config) {
  ::signal(SIGPIPE, SIG_IGN);
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
  PolicyHandler handler(policies);
  if (store) {
    const auto started = std::chrono::steady_clock::now();
    const auto loaded = policies.load_store();
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
  }
  dane.probe();
  {
    const auto& p = config.proactive_policy_fetching;
    refresher.start(
        resolver::ProactiveSettings{p.enabled, p.interval, p.grace_ratio, p.concurrency_limit});
  }
  socketmap::Server server(io, setup::server_options(config), handler);
  try {
    server.start();
  } catch (const std::exception& e) {
    spdlog::critical("cannot listen: {}", e.what());
    return 1;
  }
  // mta-stsctl's channel; mail flows without it if it cannot listen.
  auto control = start_control_server(io, config, policies, clock);
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
    hangup.cancel();
    wait_drained();
  });

  // No reload: a changed configuration takes a restart (which keeps the SQLite
  // cache). SIGHUP must not kill the daemon, as its default action would.
  std::function<void()> wait_hangup = [&] {
    hangup.async_wait([&](const boost::system::error_code& ec, int) {
      if (ec) return;
      spdlog::warn(
          "SIGHUP: configuration reload is not supported; restart mta-stsd to apply "
          "changes");
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
