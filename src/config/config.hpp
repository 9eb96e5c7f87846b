#pragma once
// The daemon's configuration: postfix-mta-sts-resolver's YAML keys and defaults,
// plus mta-stsd's own (resolver, tls, limits). Every default lives here, once.
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <map>
#include <stdexcept>
#include <string>
#include <vector>

namespace mtasts::config {

struct ZoneConfig {
  bool strict_testing = false;  // testing-mode policies answered like enforce
  double timeout = 4;           // seconds: a cold lookup's whole budget (TXT + fetch)
  bool require_sni = true;      // servername=hostname in answers
  bool tlsrpt = false;          // Postfix >= 3.10 TLSRPT attributes (Postfix 3.7 rejects them)

  bool operator==(const ZoneConfig&) const = default;
};

// cache.options.sentinels of redis_sentinel: one [HOST, PORT] pair.
struct SentinelAddress {
  std::string host;
  int port = 26379;

  bool operator==(const SentinelAddress&) const = default;
};

struct CacheConfig {
  // "internal" and "memory" are the same in-memory store; "sqlite", "redis",
  // "redis_sentinel", "postgres". Anything else stops start-up.
  std::string type = "sqlite";     // mta-stsd keeps what it learned across restarts by default
  std::size_t cache_size = 10000;  // entries kept in memory (LRU beyond)
  std::string filename;            // sqlite: database path; empty = daemon's state dir
  std::string url;                 // redis: redis://, rediss:// or unix:///PATH (checked)
  // postgres: a libpq connection string, URL or keyword/value form (libpq parses
  // it when the store is made: config/ does not link libpq).
  std::string dsn;
  // postfix-mta-sts-resolver's other backend options (their defaults):
  double timeout = 5;  // sqlite: seconds to wait for a locked database; postgres: per statement
  double socket_timeout = 5;          // redis: seconds per command
  double socket_connect_timeout = 5;  // redis: seconds to connect
  // redis_sentinel (postfix-mta-sts-resolver 1.5.0): the sentinels asked in turn
  // for the master named sentinel_master_name, and the master's AUTH and SELECT
  // (with cache.type redis these belong in the url).
  std::vector<SentinelAddress> sentinels;
  std::string sentinel_master_name;
  std::string username;
  std::string password;
  bool has_password = false;  // "password: ''" still sends AUTH, as redis-py does
  int db = 0;

  bool operator==(const CacheConfig&) const = default;
};

struct ProactiveConfig {
  bool enabled = true;
  std::uint32_t interval = 86400;         // seconds between background sweeps
  std::uint32_t concurrency_limit = 100;  // background resolutions at once
  double grace_ratio = 2.0;               // skip domains checked less than interval/grace_ratio ago

  bool operator==(const ProactiveConfig&) const = default;
};

// dane: DANE first (RFC 7672; RFC 8461 §2). Needs a local validating resolver.
struct DaneConfig {
  bool enabled = true;
  // With DANE lookups failing and no result cached: "temp" defers the mail,
  // "sts" lets MTA-STS decide alone (an attacker who breaks DNS then decides too).
  std::string on_failure = "temp";
  std::uint32_t min_ttl = 60;  // s: DNS TTLs bounded to [min_ttl, max_ttl]
  std::uint32_t max_ttl = 3600;
  std::uint32_t stale_ttl = 3600;  // s past expiry a result still answers while lookups fail

  bool operator==(const DaneConfig&) const = default;
};

// privileges: without systemd, who the daemon becomes once its sockets are bound
// and its store is open (setgroups, setgid, setuid; checked to be irreversible).
struct PrivilegesConfig {
  std::string user;   // name or number; empty = keep the starting user
  std::string group;  // name or number; empty = user's primary group
  // Root is refused unless a user is set or this is true: the daemon parses
  // what the network sends it (DNS answers, HTTPS policies).
  bool allow_root = false;

  bool operator==(const PrivilegesConfig&) const = default;
};

// log: where the daemon's lines go. log_level (top level) still sets the level.
struct LogConfig {
  std::string target = "stderr";  // stderr, syslog (syslog(3), /dev/log) or journald
  std::string facility = "mail";  // syslog facility, as Postfix logs: mail, daemon, local0-7...

  bool operator==(const LogConfig&) const = default;
};

// metrics: the Prometheus endpoint, off unless listen is set.
struct MetricsConfig {
  std::string listen;  // "ADDR:PORT" or "[V6ADDR]:PORT", a literal address; empty = off

  bool operator==(const MetricsConfig&) const = default;
};

struct Config {
  // Socketmap listener (postfix-mta-sts-resolver keys).
  std::string host = "127.0.0.1";
  std::uint16_t port = 8461;
  std::string path;      // UNIX socket; when set, host/port are not used
  unsigned mode = 0666;  // UNIX socket permissions (YAML: octal int such as 0660)
  // UNIX socket owner and group (name or number; empty = the daemon's own), so
  // Postfix's smtp processes can reach it without a world-writable mode.
  std::string owner;
  std::string group;
  bool reuse_port = true;
  // mta-stsctl's control socket (mode 0600). Empty: $RUNTIME_DIRECTORY/control.sock,
  // else /run/mta-stsd/control.sock when writable, else var/mta-stsd/control.sock
  // (relative to the working directory); "none" turns it off.
  std::string control_socket;
  double shutdown_timeout = 20;    // seconds to drain connections on SIGTERM
  std::uint32_t cache_grace = 60;  // seconds before a cached policy's TXT id is re-checked

  CacheConfig cache;
  ZoneConfig default_zone;
  std::map<std::string, ZoneConfig> zones;  // socketmap name -> zone; others use default_zone
  ProactiveConfig proactive_policy_fetching;
  // alarms.expiry_warning: seconds before an enforce policy expires at which
  // failing refreshes raise the downgrade alarm (each margin once).
  std::vector<std::uint32_t> alarm_expiry_warning{7 * 86400, 86400};
  DaneConfig dane;
  MetricsConfig metrics;

  // mta-stsd's own keys.
  std::vector<std::string> nameservers;  // resolver.nameservers: "ADDR" / "ADDR:PORT" / "[V6]:PORT"
  std::string ca_file;                   // tls.ca_file: PEM bundle; empty = system store

  // limits: (all optional in YAML)
  std::size_t max_connections = 4096;     // limits.max_connections
  std::size_t max_request_bytes = 10000;  // limits.max_request_bytes: longest key accepted
  double idle_timeout = 60;               // limits.idle_timeout (s)
  double request_timeout = 10;  // limits.request_timeout (s): first byte to complete request
  std::size_t max_concurrent_resolutions = 256;  // limits.max_concurrent_resolutions
  std::uint32_t negative_ttl = 300;  // limits.negative_ttl (s): no-policy results cached
  // limits.retry_interval (s): RFC 8461 §3.3 failed-fetch backoff
  std::uint32_t retry_interval = 300;

  std::string log_level = "info";  // log_level: trace|debug|info|warn|error|critical|off
  LogConfig log;
  PrivilegesConfig privileges;

  // Lets a reload tell whether anything changed.
  bool operator==(const Config&) const = default;
};

// A fatal configuration problem; what() names the key and, from a file, the line:
// "config.yml:12: cache.type: unknown cache type 'postgres' (expected internal, memory, sqlite,
// redis)".
class ConfigError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct LoadResult {
  Config config;
  std::vector<std::string> warnings;  // unknown keys etc., each naming key and line
  // Keys neither mta-stsd nor postfix-mta-sts-resolver knows (a misspelling, most
  // likely), as "source:line: key.path": the daemon starts without them, but
  // --check-config fails (issue 12). The resolver's own keys are not among them.
  std::vector<std::string> unknown_keys;
};

// Parses YAML text. source names it in messages (a file name or "<embedded>").
LoadResult load_config_text(const std::string& yaml, const std::string& source);
// Reads and parses a file; an unreadable file is a ConfigError naming it.
LoadResult load_config_file(const std::string& path);

// The embedded default configuration (YAML text), used when no -c is given and
// printed by `mta-stsd --print-default-config`.
const std::string& default_config_yaml();

}  // namespace mtasts::config
