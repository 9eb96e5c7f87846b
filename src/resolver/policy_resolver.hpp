#pragma once
// The policy lifecycle behind every socketmap answer: zones, the memory cache,
// single-flight discovery per domain, a bound on concurrent discoveries, per-query
// deadlines, background revalidation, negative caching and §3.3 back-off.
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>

#include "cache/store.hpp"
#include "dns/resolver.hpp"
#include "http/fetcher.hpp"
#include "resolver/dane_resolver.hpp"
#include "resolver/discovery.hpp"
#include "resolver/domain_cache.hpp"
#include "socketmap/server.hpp"
#include "sts/answer.hpp"
#include "util/clock.hpp"
#include "util/string_map.hpp"

namespace mtasts::resolver {

struct Zone {
  std::string name;  // socketmap name; "" for the default zone
  sts::AnswerOptions answer;
  std::chrono::milliseconds timeout{4000};  // longest a query waits for a cold discovery
};

struct ResolverSettings {
  std::uint32_t cache_grace = 60;       // s before a cached policy's TXT id is re-checked
  std::uint32_t negative_ttl = 300;     // s a "no policy" result is remembered
  std::uint32_t retry_interval = 300;   // s between attempts for a failing domain (§3.3)
  std::uint32_t temp_failure_ttl = 30;  // s a DNS temporary failure is remembered
  std::size_t cache_size = 10000;
  std::size_t max_concurrent = 256;  // discoveries at once
  std::size_t max_queued = 4096;     // cold discoveries waiting for a slot
  std::chrono::milliseconds fetch_timeout{4000};
};

// proactive_policy_fetching (postfix-mta-sts-resolver's keys; RFC 8461 §3.3, §10.2):
// cached policies are re-checked in the background, so none expires merely
// because no mail went to its domain for a while.
struct ProactiveSettings {
  bool enabled = true;
  std::uint32_t interval = 86400;       // s: a policy is re-checked once it is this old /
  double grace_ratio = 2.0;             //    grace_ratio since its last check
  std::size_t concurrency_limit = 100;  // background discoveries at once
};

struct ResolverStats {
  std::uint64_t dane_only = 0, dane = 0, dane_temp = 0;
  std::uint64_t queries = 0, hits = 0, negative_hits = 0, misses = 0, discoveries = 0,
                revalidations = 0, proactive = 0, store_hits = 0, timeouts = 0, overloaded = 0,
                rejected_keys = 0;
};

class PolicyResolver final : public socketmap::RequestHandler {
 public:
  // zones[0] is the default zone, used for unknown socketmap names.
  PolicyResolver(boost::asio::io_context& io, dns::Resolver& dns, http::Fetcher& https,
                 const util::Clock& clock, std::vector<Zone> zones, ResolverSettings settings,
                 cache::PolicyStore* store = nullptr, DaneResolver* dane = nullptr);
  ~PolicyResolver() override;

  // Loads the store's policies into memory (start-up). Returns how many.
  std::size_t load_store();

  // Starts the background sweeps (no-op when disabled).
  void start_proactive(ProactiveSettings settings);
  // One sweep now; returns how many domains it queued (also used by the timer).
  std::size_t sweep();

  void handle(std::string_view name, std::string_view key, socketmap::ReplyCallback done) override;

  // Admin operations (mta-stsctl through the control socket).
  // Forgets a domain in memory and in the store; true when memory had it.
  // dane_destination: the DANE cache key of the next hop (the domain itself,
  // "[host]:port" or "domain:port", see dane_destination()).
  bool purge(const std::string& domain, const std::string& dane_destination);
  // Starts a background discovery for a domain that has no unexpired cached
  // policy (cache warming); false when it is cached, already in flight, or
  // the discovery slots are full.
  bool prefetch(const std::string& domain);

  const ResolverStats& stats() const { return stats_; }
  const DomainCache& cache() const { return cache_; }
  const DaneResolver* dane() const { return dane_; }
  // The cache's answer class of zone `zone` (index into the zones given).
  std::size_t answer_class(std::size_t zone) const {
    return zone < zone_class_.size() ? zone_class_[zone] : 0;
  }
  std::size_t in_flight() const { return flights_.size(); }

 private:
  struct Waiter;
  struct Flight;

  using Deadline = std::chrono::steady_clock::time_point;
  std::size_t zone_index(std::string_view name) const;
  // The MTA-STS answer. partial_dane: DANE covers some MX hosts, so anything
  // short of an enforced policy becomes "OK dane" (decisions: DANE first).
  // A cold discovery waits until deadline (default: the zone's timeout from now).
  void sts_answer(const std::string& domain, std::size_t zone, bool partial_dane,
                  std::optional<Deadline> deadline, socketmap::ReplyCallback done);
  // The answer once DANE's level for the destination is known.
  void decide(dane::Level level, const std::string& domain, std::size_t zone, Deadline deadline,
              std::string_view why, socketmap::ReplyCallback done);
  // DANE lookups failed and no result is usable.
  void dane_failed(const std::string& domain, std::size_t zone, Deadline deadline,
                   std::string_view why, socketmap::ReplyCallback done);
  void wait_for(const std::string& domain, std::size_t zone, bool partial_dane, Deadline deadline,
                socketmap::ReplyCallback done);
  // The domain's policy discovery, started unless one is in flight: the store
  // first, then the network. nullptr when overloaded or already finished.
  Flight* ensure_flight(const std::string& domain);
  void start_flight(const std::string& domain, std::string known_id);
  void schedule(const std::string& domain);
  void launch(const std::string& domain);
  void finish_flight(const std::string& domain, DiscoveryResult result);
  void apply(const std::string& domain, const DiscoveryResult& result, std::int64_t now);
  void answer_waiters(Flight& flight, const std::string& domain, const DiscoveryResult& result);
  void launch_queued();
  void pump_proactive();
  void arm_sweep(std::chrono::seconds delay);
  void arm_dane_sweep();

  boost::asio::io_context& io_;
  dns::Resolver& dns_;
  http::Fetcher& https_;
  const util::Clock& clock_;
  std::vector<Zone> zones_;
  std::vector<std::size_t> zone_class_;  // zone index -> answer class in the cache
  util::StringMap<std::size_t> zone_by_name_;
  ResolverSettings settings_;
  cache::PolicyStore* store_;
  DaneResolver* dane_;  // null or disabled: MTA-STS only
  DomainCache cache_;
  util::StringMap<std::unique_ptr<Flight>> flights_;
  std::deque<std::string> queued_;  // domains whose flight waits for a discovery slot
  std::size_t running_ = 0;
  ResolverStats stats_;
  ProactiveSettings proactive_;
  std::unique_ptr<boost::asio::steady_timer> sweep_timer_;
  std::unique_ptr<boost::asio::steady_timer> dane_timer_;
  std::deque<DomainCache::RefreshCandidate> refresh_queue_;
  std::size_t proactive_running_ = 0;
  std::shared_ptr<bool> alive_;
};

}  // namespace mtasts::resolver
