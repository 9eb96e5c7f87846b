#pragma once
// The configuration turned into each module's settings, once, for both
// programs: mta-stsctl resolves exactly as mta-stsd does.
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <boost/asio/io_context.hpp>

#include "cache/store.hpp"
#include "config/config.hpp"
#include "dane/precedence.hpp"
#include "dns/resolver.hpp"
#include "http/fetcher.hpp"
#include "resolver/dane_resolver.hpp"
#include "resolver/policy_resolver.hpp"
#include "socketmap/server.hpp"

namespace mtasts::setup {

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
// The SQLite file config.cache keeps on this machine: the cache itself (sqlite) or
// the local tier under a shared one (redis, redis_sentinel, postgres); none for
// the memory-only types. The daemon hands it to the user it drops to.
std::optional<std::string> local_cache_file(const config::CacheConfig& cache);

resolver::DaneSettings dane_settings(const config::Config& config);

}  // namespace mtasts::setup
