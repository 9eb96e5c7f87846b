#include "setup/setup.hpp"

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <stdexcept>

#include "cache/postgres_store.hpp"
#include "cache/redis_store.hpp"
#include "cache/sqlite_store.hpp"
#include "cache/tiered_store.hpp"

namespace mtasts::setup {

namespace {

std::chrono::milliseconds seconds_to_ms(double seconds) {
  return std::chrono::milliseconds(static_cast<std::int64_t>(seconds * 1000.0));
}

}  // namespace

std::string default_cache_path() {
  // systemd's StateDirectory= tells us where state belongs; an installed daemon
  // has its directory; run from a source tree, the cache stays in ./var/.
  if (const char* state = ::getenv("STATE_DIRECTORY"); state != nullptr && *state != '\0') {
    std::string dir = state;
    if (auto colon = dir.find(':'); colon != std::string::npos) dir.resize(colon);
    return dir + "/cache.db";
  }
  if (::access(MTASTSD_DEFAULT_STATE_DIR, W_OK) == 0) {
    return std::string(MTASTSD_DEFAULT_STATE_DIR) + "/cache.db";
  }
  return "var/mta-stsd/cache.db";
}

std::optional<std::string> local_cache_file(const config::CacheConfig& cache) {
  if (cache.type == "sqlite" || cache.type == "redis" || cache.type == "redis_sentinel" ||
      cache.type == "postgres") {
    return cache.filename.empty() ? default_cache_path() : cache.filename;
  }
  return std::nullopt;
}

std::unique_ptr<cache::PolicyStore> make_store(const config::CacheConfig& cache,
                                               boost::asio::io_context& io) {
  if (cache.type == "internal" || cache.type == "memory") return nullptr;
  const auto local_file = local_cache_file(cache);
  const auto busy = seconds_to_ms(cache.timeout);
  if (cache.type == "sqlite") return std::make_unique<cache::SqliteStore>(*local_file, busy);
  // The shared types: the fleet shares the server; the local SQLite copy keeps
  // what this daemon learned across a restart while the server is down (and
  // answers while no Redis master is known).
  const auto tiered_over = [&](std::unique_ptr<cache::PolicyStore> shared) {
    return std::make_unique<cache::TieredStore>(
        std::move(shared), std::make_unique<cache::SqliteStore>(*local_file, busy));
  };
  if (cache.type == "redis") {
    cache::RedisOptions options;
    options.url = cache.url;
    options.connect_timeout = seconds_to_ms(cache.socket_connect_timeout);
    options.command_timeout = seconds_to_ms(cache.socket_timeout);
    return tiered_over(std::make_unique<cache::RedisStore>(io, std::move(options)));
  }
  if (cache.type == "redis_sentinel") {
    cache::RedisOptions options;
    cache::SentinelOptions sentinel;
    for (const auto& address : cache.sentinels)
      sentinel.sentinels.push_back({address.host, address.port});
    sentinel.master_name = cache.sentinel_master_name;
    sentinel.user = cache.username;
    sentinel.password = cache.password;
    sentinel.has_password = cache.has_password;
    sentinel.db = cache.db;
    options.sentinel = std::move(sentinel);
    options.connect_timeout = seconds_to_ms(cache.socket_connect_timeout);
    options.command_timeout = seconds_to_ms(cache.socket_timeout);
    return tiered_over(std::make_unique<cache::RedisStore>(io, std::move(options)));
  }
  if (cache.type == "postgres") {
    cache::PostgresOptions options;
    options.dsn = cache.dsn;
    options.connect_timeout = seconds_to_ms(cache.timeout);
    options.command_timeout = seconds_to_ms(cache.timeout);
    // PostgresStore throws std::invalid_argument naming cache.options.dsn for a
    // DSN libpq cannot parse.
    return tiered_over(std::make_unique<cache::PostgresStore>(io, std::move(options)));
  }
  throw std::runtime_error("cache.type '" + cache.type + "' is not supported by mta-stsd " +
                           MTASTSD_VERSION +
                           " (use internal, memory, sqlite, redis, redis_sentinel or postgres)");
}

dns::ResolverOptions resolver_options(const config::Config& config) {
  dns::ResolverOptions options;
  options.nameservers = config.nameservers;
  // Two tries must fit in the shortest zone budget, so a dead server still
  // leaves time for the answer (but never less than 500 ms a try).
  double shortest = config.default_zone.timeout;
  for (const auto& [name, zone] : config.zones) shortest = std::min(shortest, zone.timeout);
  options.timeout = std::clamp(seconds_to_ms(shortest / 3), std::chrono::milliseconds(500),
                               std::chrono::milliseconds(2000));
  options.tries = 2;
  return options;
}

http::FetcherOptions fetcher_options(const config::Config& config) {
  http::FetcherOptions options;
  options.ca_file = config.ca_file;
  options.max_concurrent = std::max<std::size_t>(1, config.max_concurrent_resolutions);
  return options;
}

std::vector<resolver::Zone> zones(const config::Config& config) {
  auto make = [](const std::string& name, const config::ZoneConfig& zone) {
    resolver::Zone z;
    z.name = name;
    z.answer.strict_testing = zone.strict_testing;
    z.answer.require_sni = zone.require_sni;
    z.answer.tlsrpt = zone.tlsrpt;
    z.timeout = seconds_to_ms(zone.timeout);
    return z;
  };
  std::vector<resolver::Zone> result{make("", config.default_zone)};
  for (const auto& [name, zone] : config.zones) result.push_back(make(name, zone));
  return result;
}

resolver::ResolverSettings resolver_settings(const config::Config& config) {
  resolver::ResolverSettings settings;
  settings.cache_grace = config.cache_grace;
  settings.negative_ttl = config.negative_ttl;
  settings.retry_interval = config.retry_interval;
  settings.cache_size = config.cache.cache_size;
  settings.max_concurrent = std::max<std::size_t>(1, config.max_concurrent_resolutions);
  settings.max_queued = settings.max_concurrent * 16;
  // A discovery may outlive the query that started it (its result is cached), so
  // the fetch gets the longest zone budget.
  double longest = config.default_zone.timeout;
  for (const auto& [name, zone] : config.zones) longest = std::max(longest, zone.timeout);
  settings.fetch_timeout = seconds_to_ms(longest);
  settings.alarms.expiry_margins = config.alarm_expiry_warning;
  return settings;
}

dane::OnFailure dane_on_failure(const config::Config& config) {
  return config.dane.on_failure == "sts" ? dane::OnFailure::sts : dane::OnFailure::temp;
}

resolver::DaneSettings dane_settings(const config::Config& config) {
  resolver::DaneSettings settings;
  settings.enabled = config.dane.enabled;
  settings.on_failure = dane_on_failure(config);
  settings.min_ttl = config.dane.min_ttl;
  settings.max_ttl = config.dane.max_ttl;
  settings.stale_ttl = config.dane.stale_ttl;
  settings.max_concurrent = std::max<std::size_t>(1, config.max_concurrent_resolutions);
  settings.max_queued = settings.max_concurrent * 16;
  settings.cache_size = config.cache.cache_size;
  return settings;
}

socketmap::ServerOptions server_options(const config::Config& config) {
  socketmap::ServerOptions options;
  options.host = config.host;
  options.port = config.port;
  options.unix_path = config.path;
  options.unix_mode = config.mode;
  options.reuse_port = config.reuse_port;
  // The limit is on the key (Postfix's socketmap_max_query_size); the payload
  // also carries the map name and a space.
  options.max_request_bytes = config.max_request_bytes + 256;
  options.max_key_bytes = config.max_request_bytes;
  options.idle_timeout = seconds_to_ms(config.idle_timeout);
  options.request_timeout = seconds_to_ms(config.request_timeout);
  options.max_connections = config.max_connections;
  return options;
}

}  // namespace mtasts::setup
