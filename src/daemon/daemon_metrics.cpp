#include "daemon/daemon_metrics.hpp"

#include <algorithm>
#include <array>
#include <chrono>
#include <memory>
#include <stdexcept>

#include "config/listen_address.hpp"
#include "dane/level.hpp"
#include "sts/policy.hpp"

#ifndef MTASTSD_BUILT_ON
#define MTASTSD_BUILT_ON "unknown"
#endif

namespace mtasts::daemon {

namespace {

constexpr std::int64_t kExpiringWithin = 24 * 3600;
constexpr std::array<sts::Mode, 3> kModes = {sts::Mode::enforce, sts::Mode::testing,
                                             sts::Mode::none};
constexpr std::array<dane::Level, 3> kLevels = {dane::Level::dane_only, dane::Level::dane,
                                                dane::Level::none};
constexpr std::array<std::string_view, 4> kDaneStatuses = {"disabled", "unknown", "active",
                                                           "inert"};

std::string label(std::string_view value) { return std::string(value); }

}  // namespace

DaemonMetrics::DaemonMetrics(const std::vector<std::string>& zone_names)
    : answers_(registry_, zone_labels(zone_names)), observer_(registry_) {
  registry_
      .gauge("mtastsd_build_info",
             "mta-stsd's version and the Debian release it was built on (value 1).",
             {{"version", MTASTSD_VERSION}, {"debian_release", MTASTSD_BUILT_ON}})
      .set(1);
}

void DaemonMetrics::watch(const resolver::PolicyResolver& policies, const socketmap::Server& server,
                          const util::Clock& clock) {
  auto& r = registry_;
  const auto* p = &policies;
  const auto* s = &server;

  // Answers the socketmap layer gives itself: PERM for a malformed request.
  r.counter_from(kAnswersName, kAnswersHelp, {{"kind", "perm"}}, [s, this] {
    return static_cast<double>(s->stats().malformed + answers_.perm_count());
  });

  // What the policy lifecycle counts.
  auto resolver_counter = [&](std::string_view name, std::string_view help,
                              std::uint64_t resolver::ResolverStats::*field) {
    r.counter_from(name, help, {}, [p, field] { return static_cast<double>(p->stats().*field); });
  };
  using RS = resolver::ResolverStats;
  resolver_counter("mtastsd_queries_total",
                   "Queries the resolver was asked, keys that are not a domain included.",
                   &RS::queries);
  resolver_counter("mtastsd_cache_hits_total",
                   "Queries answered from a policy in memory (stale ones included: they are "
                   "revalidated behind the answer).",
                   &RS::hits);
  resolver_counter("mtastsd_cache_negative_hits_total",
                   "Queries answered from a remembered no-policy result.", &RS::negative_hits);
  resolver_counter("mtastsd_cache_misses_total",
                   "Queries with nothing in memory: they wait for the store or a discovery.",
                   &RS::misses);
  resolver_counter("mtastsd_store_hits_total",
                   "Policies a memory miss found in the persistent store (SQLite, Redis).",
                   &RS::store_hits);
  resolver_counter("mtastsd_store_read_failures_total",
                   "Memory misses the store could not answer (down, a read error, too slow): "
                   "a failed discovery is then answered TEMP, not NOTFOUND.",
                   &RS::store_unknown);
  resolver_counter("mtastsd_store_unknown_temp_answers_total",
                   "Failed discoveries answered TEMP because the store could not say whether it "
                   "holds the domain's policy.",
                   &RS::store_unknown_temp);
  resolver_counter("mtastsd_discoveries_total",
                   "MTA-STS discoveries started on the network (TXT record, then the policy).",
                   &RS::discoveries);
  resolver_counter("mtastsd_revalidations_total",
                   "Background re-checks of a cached policy past cache_grace, started by a query.",
                   &RS::revalidations);
  resolver_counter("mtastsd_proactive_refreshes_total",
                   "Background refreshes started by the proactive sweep.", &RS::proactive);
  resolver_counter("mtastsd_query_timeouts_total",
                   "Queries answered NOTFOUND at the zone timeout while the discovery went on.",
                   &RS::timeouts);
  resolver_counter("mtastsd_overloaded_total",
                   "Cold discoveries refused because every slot and queue place was taken.",
                   &RS::overloaded);
  resolver_counter("mtastsd_invalid_keys_total",
                   "Well-formed requests whose key is not a policy domain (answered NOTFOUND).",
                   &RS::rejected_keys);
  const std::string dane_help =
      "DANE decisions for queries: dane-only and dane answers, and TEMP because DANE lookups "
      "failed.";
  r.counter_from("mtastsd_dane_decisions_total", dane_help, {{"outcome", "dane-only"}},
                 [p] { return static_cast<double>(p->stats().dane_only); });
  r.counter_from("mtastsd_dane_decisions_total", dane_help, {{"outcome", "dane"}},
                 [p] { return static_cast<double>(p->stats().dane); });
  r.counter_from("mtastsd_dane_decisions_total", dane_help, {{"outcome", "temp"}},
                 [p] { return static_cast<double>(p->stats().dane_temp); });

  // What the DANE lifecycle counts (zero with DANE off).
  auto dane_counter = [&](std::string_view name, std::string_view help,
                          std::uint64_t resolver::DaneStats::*field) {
    r.counter_from(name, help, {}, [p, field] {
      return p->dane() != nullptr ? static_cast<double>(p->dane()->stats().*field) : 0.0;
    });
  };
  using DS = resolver::DaneStats;
  dane_counter("mtastsd_dane_lookups_total", "DANE lookups (MX and TLSA records) started.",
               &DS::lookups);
  dane_counter("mtastsd_dane_lookup_failures_total",
               "DANE lookups that ended without a result (DNS failure, bogus, timeout).",
               &DS::failures);
  dane_counter("mtastsd_dane_stale_answers_total",
               "Queries answered from an expired DANE result while lookups fail (stale_ttl).",
               &DS::stale_answers);
  dane_counter("mtastsd_dane_store_hits_total",
               "DANE results a memory miss found in the persistent store.", &DS::store_hits);

  // The socketmap server.
  r.counter_from("mtastsd_connections_accepted_total", "Socketmap connections accepted.", {},
                 [s] { return static_cast<double>(s->stats().accepted); });
  r.counter_from("mtastsd_connections_refused_total",
                 "Socketmap connections closed at once: limits.max_connections were open.", {},
                 [s] { return static_cast<double>(s->stats().refused); });
  const std::string timeout_help =
      "Socketmap connections closed by a deadline: idle (limits.idle_timeout), request (a "
      "request incomplete after limits.request_timeout), write (replies not read).";
  r.counter_from("mtastsd_connections_timed_out_total", timeout_help, {{"reason", "idle"}},
                 [s] { return static_cast<double>(s->stats().idle_timeouts); });
  r.counter_from("mtastsd_connections_timed_out_total", timeout_help, {{"reason", "request"}},
                 [s] { return static_cast<double>(s->stats().request_timeouts); });
  r.counter_from("mtastsd_connections_timed_out_total", timeout_help, {{"reason", "write"}},
                 [s] { return static_cast<double>(s->stats().write_timeouts); });
  r.counter_from("mtastsd_requests_malformed_total",
                 "Requests answered PERM and the connection closed: a malformed netstring or "
                 "request, or a key over limits.max_request_bytes.",
                 {}, [s] { return static_cast<double>(s->stats().malformed); });
  r.gauge_from("mtastsd_connections_open", "Socketmap connections open now.", {},
               [s] { return static_cast<double>(s->connection_count()); });

  // Work in progress.
  r.gauge_from("mtastsd_resolutions_in_flight", "MTA-STS discoveries running now.", {},
               [p] { return static_cast<double>(p->running()); });
  r.gauge_from("mtastsd_resolutions_queued",
               "Cold MTA-STS discoveries waiting for a slot (limits.max_concurrent_resolutions).",
               {}, [p] { return static_cast<double>(p->queued()); });
  r.gauge_from("mtastsd_dane_lookups_in_flight", "DANE lookups running or waiting now.", {}, [p] {
    return p->dane() != nullptr ? static_cast<double>(p->dane()->in_flight()) : 0.0;
  });
  for (const auto status : kDaneStatuses) {
    r.gauge_from("mtastsd_dane_status",
                 "1 for DANE's state now: disabled, unknown (no validated answer yet), active, "
                 "inert (the resolver does not validate).",
                 {{"status", label(status)}}, [p, status] {
                   const auto now = p->dane() != nullptr ? p->dane()->status() : "disabled";
                   return now == status ? 1.0 : 0.0;
                 });
  }

  // The caches, counted by one walk per scrape (memory holds at most cache_size
  // policies: a walk of 10,000 entries takes well under a millisecond).
  std::array<metrics::Gauge*, kModes.size()> by_mode{};
  for (std::size_t i = 0; i < kModes.size(); ++i) {
    by_mode[i] = &r.gauge("mtastsd_cached_policies", "Policies in memory, by mode.",
                          {{"mode", label(sts::to_string(kModes[i]))}});
  }
  auto& expiring = r.gauge("mtastsd_cached_policies_expiring",
                           "Policies in memory whose max_age ends within 24 hours.");
  std::array<metrics::Gauge*, kLevels.size()> by_level{};
  for (std::size_t i = 0; i < kLevels.size(); ++i) {
    by_level[i] = &r.gauge("mtastsd_cached_dane_results", "DANE results in memory, by level.",
                           {{"level", label(dane::to_string(kLevels[i]))}});
  }
  r.gauge_from("mtastsd_cached_negative_entries",
               "Domains remembered as having no usable policy (limits.negative_ttl).", {},
               [p] { return static_cast<double>(p->cache().negative_count()); });
  auto& failing = r.gauge("mtastsd_enforce_policies_refresh_failing",
                          "Enforce policies in memory whose last refresh failed (still answered "
                          "until they expire, RFC 8461 3.3).");
  for (std::size_t i = 0; i < static_cast<std::size_t>(resolver::AlarmKind::count); ++i) {
    const auto kind = static_cast<resolver::AlarmKind>(i);
    r.gauge_from("mtastsd_downgrade_alarms",
                 "Domains in a downgrade alarm now, by kind (mta-stsctl list --alarms names them).",
                 {{"kind", std::string(resolver::to_string(kind))}},
                 [p, kind] { return static_cast<double>(p->alarms().count(kind)); });
  }
  const auto* c = &clock;
  r.before_scrape([p, c, by_mode, by_level, &expiring, &failing] {
    std::array<std::int64_t, kModes.size()> modes{};
    std::int64_t soon = 0, failed = 0;
    const auto now = c->now();
    p->cache().for_each_policy_with_failures(
        [&](const cache::CachedPolicy& policy, std::uint32_t failures) {
          for (std::size_t i = 0; i < kModes.size(); ++i) {
            if (policy.policy.mode == kModes[i]) ++modes[i];
          }
          if (policy.expires_at - now <= kExpiringWithin) ++soon;
          if (failures > 0 && policy.policy.mode == sts::Mode::enforce) ++failed;
        });
    for (std::size_t i = 0; i < kModes.size(); ++i) by_mode[i]->set(modes[i]);
    expiring.set(soon);
    failing.set(failed);
    std::array<std::int64_t, kLevels.size()> levels{};
    if (p->dane() != nullptr) {
      p->dane()->cache().for_each_result([&](const cache::CachedDane& result) {
        for (std::size_t i = 0; i < kLevels.size(); ++i) {
          if (result.level == kLevels[i]) ++levels[i];
        }
      });
    }
    for (std::size_t i = 0; i < kLevels.size(); ++i) by_level[i]->set(levels[i]);
  });
}

void DaemonMetrics::watch_store(cache::PolicyStore& store, const util::Clock& clock) {
  // The backends are fixed for the process's life (a cache type change needs a
  // restart), so their series are known now; each scrape reads the counts.
  const std::string help =
      "Store operations that failed, by backend (sqlite, redis) and operation: read (a lookup or "
      "listing the store could not answer) and write (a failed transaction, retried; a write "
      "the server refused or dropped because too many were waiting).";
  const auto* s = &store;
  for (const auto& counts : store.error_counts()) {
    for (const bool reads : {true, false}) {
      registry_.counter_from("mtastsd_store_errors_total", help,
                             {{"backend", counts.backend}, {"operation", reads ? "read" : "write"}},
                             [s, backend = counts.backend, reads] {
                               for (const auto& now : s->error_counts()) {
                                 if (now.backend == backend)
                                   return static_cast<double>(reads ? now.reads : now.writes);
                               }
                               return 0.0;
                             });
    }
  }

  // What the store holds, memory's policies included: with cache_size below
  // the number of policies learned, memory's gauges above count only part of
  // them (issue 16). A census reads the whole store, so it runs at a scrape at
  // most once a minute, and never more often than a hundred times its own
  // duration apart (a store of a million policies is counted every few
  // minutes, costing the event loop at most 1 % of its time).
  std::array<metrics::Gauge*, kModes.size()> stored{};
  for (std::size_t i = 0; i < kModes.size(); ++i) {
    stored[i] = &registry_.gauge(
        "mtastsd_stored_policies",
        "Unexpired policies the store holds (for redis, redis_sentinel and postgres: the local "
        "SQLite tier), those in memory included, by mode; counted at most once a minute.",
        {{"mode", label(sts::to_string(kModes[i]))}});
  }
  auto& stored_expiring =
      registry_.gauge("mtastsd_stored_policies_expiring",
                      "Policies the store holds whose max_age ends within 24 hours; counted with "
                      "mtastsd_stored_policies.");
  struct CensusPace {
    std::chrono::steady_clock::time_point next{};
  };
  auto pace = std::make_shared<CensusPace>();
  const auto* c = &clock;
  auto* st = &store;
  registry_.before_scrape([st, c, stored, &stored_expiring, pace] {
    const auto started = std::chrono::steady_clock::now();
    if (started < pace->next) return;
    const auto now = c->now();
    const auto census = st->census(now, now + kExpiringWithin);
    const auto took = std::chrono::steady_clock::now() - started;
    pace->next = started +
                 std::max<std::chrono::steady_clock::duration>(std::chrono::minutes(1), took * 100);
    if (!census) return;  // the last counts stand (the store's read errors are counted)
    for (std::size_t i = 0; i < kModes.size(); ++i) {
      stored[i]->set(census->by_mode[static_cast<std::size_t>(kModes[i])]);
    }
    stored_expiring.set(census->expiring);
  });
}

std::unique_ptr<metrics::HttpServer> start_metrics_server(boost::asio::io_context& io,
                                                          const config::Config& config,
                                                          DaemonMetrics& daemon_metrics) {
  if (config.metrics.listen.empty()) return nullptr;
  const auto listen = config::parse_listen_address(config.metrics.listen);
  if (!listen) {
    throw std::runtime_error("metrics.listen: not ADDR:PORT: " + config.metrics.listen);
  }
  metrics::HttpServerOptions options;
  options.address = listen->address;
  options.port = listen->port;
  auto server = std::make_unique<metrics::HttpServer>(
      io, options, [&daemon_metrics] { return daemon_metrics.scrape(); });
  server->start();
  return server;
}

}  // namespace mtasts::daemon
