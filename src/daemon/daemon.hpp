#pragma once
// Wiring of the daemon: config -> DNS, HTTPS, policy resolver, socketmap server,
// signals and systemd notification, all on one io_context.
#include <memory>
#include <string>
#include <vector>

#include <boost/asio/io_context.hpp>

#include "cache/store.hpp"

#include "config/config.hpp"
#include "dns/resolver.hpp"
#include "http/fetcher.hpp"
#include "resolver/policy_resolver.hpp"
#include "socketmap/server.hpp"

namespace mtasts::daemon {

// Translations from the configuration, shared by mta-stsd and mta-stsctl so
// both resolve exactly alike.
dns::ResolverOptions resolver_options(const config::Config& config);
http::FetcherOptions fetcher_options(const config::Config& config);
std::vector<resolver::Zone> zones(const config::Config& config);  // [0] = default zone
resolver::ResolverSettings resolver_settings(const config::Config& config);
dane::OnFailure dane_on_failure(const config::Config& config);
socketmap::ServerOptions server_options(const config::Config& config);

// The persistence tier for config.cache (nullptr for the memory-only types);
// throws std::runtime_error for a type this build cannot provide.
std::unique_ptr<cache::PolicyStore> make_store(const config::CacheConfig& cache,
                                               boost::asio::io_context& io);
// Where the SQLite cache lives when cache.options.filename is not set.
std::string default_cache_path();

// Runs until SIGTERM/SIGINT and a drain of at most shutdown_timeout. Returns the
// process exit code; start-up failures are logged and give a non-zero code.
int run(const config::Config& config);

}  // namespace mtasts::daemon
