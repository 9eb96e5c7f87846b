// The YAML configuration loader on arbitrary text: a ConfigError or a Config
// whose every value lies in the range config.hpp / loader.cpp document.
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <string>

#include <spdlog/spdlog.h>

#include "config/config.hpp"
#include "config/nameserver.hpp"
#include "fuzz_check.hpp"

using mtasts::config::Config;
using mtasts::config::ZoneConfig;

namespace {

constexpr double kOneYear = 31557600;  // RFC 8461 §3.2 max_age limit

bool seconds_in(double value, double above, double at_most) {
  return std::isfinite(value) && value > above && value <= at_most;
}

bool has_ctl(std::string_view text) {
  for (const char c : text) {
    if (static_cast<unsigned char>(c) < 0x20 || static_cast<unsigned char>(c) == 0x7f) return true;
  }
  return false;
}

void check_zone(const ZoneConfig& zone) {
  // Postfix's socketmap client waits 100 s: a zone timeout stays below it.
  FUZZ_CHECK(seconds_in(zone.timeout, 0, 90));
}

void check(const Config& config) {
  FUZZ_CHECK(!config.host.empty() && !has_ctl(config.host));
  FUZZ_CHECK(config.port >= 1);
  FUZZ_CHECK(config.path.size() <= 107 && !has_ctl(config.path));  // sockaddr_un.sun_path
  FUZZ_CHECK(config.mode <= 07777);
  FUZZ_CHECK(seconds_in(config.shutdown_timeout, -1, 3600) && config.shutdown_timeout >= 0);
  FUZZ_CHECK(config.cache_grace <= kOneYear);

  const auto& cache = config.cache;
  FUZZ_CHECK(cache.type == "internal" || cache.type == "memory" || cache.type == "sqlite" ||
             cache.type == "redis");
  FUZZ_CHECK(cache.cache_size >= 1 && cache.cache_size <= 100'000'000);
  FUZZ_CHECK(!has_ctl(cache.filename) && !has_ctl(cache.url));
  FUZZ_CHECK(cache.type != "redis" || !cache.url.empty());
  FUZZ_CHECK(cache.url.empty() || cache.url.starts_with("redis://") ||
             cache.url.starts_with("rediss://") || cache.url.starts_with("unix:///"));
  FUZZ_CHECK(seconds_in(cache.timeout, 0, 3600));
  FUZZ_CHECK(seconds_in(cache.socket_timeout, 0, 3600));
  FUZZ_CHECK(seconds_in(cache.socket_connect_timeout, 0, 3600));

  check_zone(config.default_zone);
  for (const auto& [name, zone] : config.zones) {
    FUZZ_CHECK(!name.empty());
    check_zone(zone);
  }

  const auto& proactive = config.proactive_policy_fetching;
  FUZZ_CHECK(proactive.interval >= 1 && proactive.interval <= kOneYear);
  FUZZ_CHECK(proactive.concurrency_limit >= 1 && proactive.concurrency_limit <= 10000);
  FUZZ_CHECK(seconds_in(proactive.grace_ratio, 0, 1e6));

  for (const auto& server : config.nameservers) {
    FUZZ_CHECK(mtasts::config::parse_nameserver(server).has_value());
  }
  FUZZ_CHECK(!has_ctl(config.ca_file));

  FUZZ_CHECK(config.max_connections >= 1 && config.max_connections <= 1'000'000);
  // A request must hold any domain (253 octets) with its socketmap name.
  FUZZ_CHECK(config.max_request_bytes >= 512 && config.max_request_bytes <= 1'000'000);
  FUZZ_CHECK(seconds_in(config.idle_timeout, 0, 86400));
  FUZZ_CHECK(config.max_concurrent_resolutions >= 1 &&
             config.max_concurrent_resolutions <= 1'000'000);
  FUZZ_CHECK(config.negative_ttl <= 86400);
  FUZZ_CHECK(config.retry_interval >= 1 && config.retry_interval <= 86400);
  const std::string& level = config.log_level;
  FUZZ_CHECK(level == "trace" || level == "debug" || level == "info" || level == "warn" ||
             level == "error" || level == "critical" || level == "off");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const bool quiet = [] {
    spdlog::set_level(spdlog::level::off);  // warnings are returned, not needed on stderr
    return true;
  }();
  (void)quiet;
  const std::string yaml(mtasts::fuzz::as_text(data, size));
  try {
    const auto loaded = mtasts::config::load_config_text(yaml, "<fuzz>");
    check(loaded.config);
  } catch (const mtasts::config::ConfigError& error) {
    FUZZ_CHECK(std::string_view(error.what()).starts_with("<fuzz>"));
  } catch (const std::exception& error) {
    // Anything else escaping the loader would stop the daemon with a bare what().
    std::fprintf(stderr, "unexpected %s: %s\n", typeid(error).name(), error.what());
    FUZZ_CHECK(false && "load_config_text threw something other than ConfigError");
  }
  return 0;
}
