#pragma once
// Everything mta-stsd exports to Prometheus (metrics.listen), in one place:
// the answers its handler counts (AnswerMetrics), and what the lifecycle and
// the socketmap server count anyway, read when Prometheus scrapes. The scrape
// runs on the io_context's thread, like everything that updates those numbers,
// so reading them needs no lock. Names and labels: docs in mta-stsd(8).
#include <memory>
#include <string>
#include <vector>

#include <boost/asio/io_context.hpp>

#include "cache/store.hpp"
#include "config/config.hpp"
#include "daemon/answer_metrics.hpp"
#include "daemon/observer_metrics.hpp"
#include "metrics/http_server.hpp"
#include "metrics/registry.hpp"
#include "resolver/policy_resolver.hpp"
#include "socketmap/server.hpp"
#include "util/clock.hpp"

namespace mtasts::daemon {

class DaemonMetrics {
 public:
  // zone_names: the socketmap name of each zone index ([0] = default zone, "").
  explicit DaemonMetrics(const std::vector<std::string>& zone_names);
  DaemonMetrics(const DaemonMetrics&) = delete;
  DaemonMetrics& operator=(const DaemonMetrics&) = delete;

  AnswerMetrics& answers() { return answers_; }
  // For PolicyResolver::set_observer (discoveries, refreshes, DANE, alarms).
  resolver::Observer& observer() { return observer_; }
  // The values read at scrape time. Each object must outlive every scrape.
  void watch(const resolver::PolicyResolver& policies, const socketmap::Server& server,
             const util::Clock& clock);
  // The store's errors by backend and operation (mtastsd_store_errors_total)
  // and what it holds (mtastsd_stored_policies); not called for the
  // memory-only cache, which has no store.
  void watch_store(cache::PolicyStore& store, const util::Clock& clock);
  std::string scrape() { return registry_.expose(); }
  metrics::Registry& registry() { return registry_; }

 private:
  metrics::Registry registry_;
  AnswerMetrics answers_;
  ObserverMetrics observer_;
};

// The /metrics endpoint for config.metrics.listen, started; null when it is
// not set. Throws std::runtime_error when it cannot listen.
std::unique_ptr<metrics::HttpServer> start_metrics_server(boost::asio::io_context& io,
                                                          const config::Config& config,
                                                          DaemonMetrics& metrics);

}  // namespace mtasts::daemon
