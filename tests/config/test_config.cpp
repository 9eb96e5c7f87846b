// Loading: postfix-mta-sts-resolver's own sample files, every key, defaults.
#include <doctest/doctest.h>

#include "config/config.hpp"
#include "config_test_util.hpp"

using namespace mtasts::config;
using mtasts::config::test::error_of;
using mtasts::config::test::has_warning;
using mtasts::config::test::load;

namespace {

// postfix-mta-sts-resolver config_examples/mta-sts-daemon.yml.internal, verbatim.
const char* const kTheirInternal = R"(host: 127.0.0.1
port: 8461
reuse_port: true
shutdown_timeout: 20
cache:
  type: internal
  options:
    cache_size: 10000
default_zone:
  strict_testing: false
  timeout: 4
  #tlsrpt: true
zones:
  myzone:
    strict_testing: false
    timeout: 4
)";

// config_examples/mta-sts-daemon.yml.sqlite_unixsock, verbatim.
const char* const kTheirSqliteUnixSock = R"(path: "/var/run/mta-sts.sock"
mode: 0666
shutdown_timeout: 20
cache:
  type: sqlite
  options:
    filename: "/var/lib/mta-sts/cache.db"
default_zone:
  strict_testing: false
  timeout: 4
  #tlsrpt: true
zones:
  myzone:
    strict_testing: false
    timeout: 4
)";

// config_examples/mta-sts-daemon.yml.redis, verbatim.
const char* const kTheirRedis = R"(host: 127.0.0.1
port: 8461
reuse_port: true
shutdown_timeout: 20
cache:
  type: redis
  options:
    url: "redis://127.0.0.1/0"
    max_connections: 25
    socket_timeout: 1.0
    socket_connect_timeout: 1.0
default_zone:
  strict_testing: false
  timeout: 4
  #tlsrpt: true
zones:
  myzone:
    strict_testing: false
    timeout: 4
)";

// The example of mta-sts-daemon.yml(5), verbatim.
const char* const kTheirManPage = R"(host: 127.0.0.1
port: 8461
reuse_port: true
shutdown_timeout: 20
proactive_policy_fetching:
  enabled: true
  interval: 86400
  concurrency_limit: 100
  grace_ratio: 2
cache:
  type: internal
  options:
    cache_size: 10000
default_zone:
  strict_testing: false
  timeout: 4
zones:
  myzone:
    strict_testing: false
    timeout: 4
)";

// Their docker-config.yml, verbatim.
const char* const kTheirDocker = R"(host: 0.0.0.0
port: 8461
reuse_port: true
shutdown_timeout: 20
cache:
  type: sqlite
  options:
    filename: "/var/lib/mta-sts/cache.db"
default_zone:
  strict_testing: false
  timeout: 4
)";

}  // namespace

TEST_CASE("postfix-mta-sts-resolver's internal-cache example loads") {
  const auto r = load(kTheirInternal);
  CHECK(r.warnings.empty());
  const Config& c = r.config;
  CHECK(c.host == "127.0.0.1");
  CHECK(c.port == 8461);
  CHECK(c.path.empty());
  CHECK(c.reuse_port);
  CHECK(c.shutdown_timeout == 20);
  CHECK(c.cache.type == "internal");
  CHECK(c.cache.cache_size == 10000);
  CHECK_FALSE(c.default_zone.strict_testing);
  CHECK(c.default_zone.timeout == 4);
  CHECK(c.default_zone.require_sni);
  CHECK_FALSE(c.default_zone.tlsrpt);
  REQUIRE(c.zones.size() == 1);
  REQUIRE(c.zones.count("myzone") == 1);
  CHECK(c.zones.at("myzone") == ZoneConfig{});
}

TEST_CASE("postfix-mta-sts-resolver's sqlite + UNIX socket example loads, mode in octal") {
  const auto r = load(kTheirSqliteUnixSock);
  CHECK(r.warnings.empty());
  const Config& c = r.config;
  CHECK(c.path == "/var/run/mta-sts.sock");
  CHECK(c.mode == 0666);
  CHECK(c.cache.type == "sqlite");
  CHECK(c.cache.filename == "/var/lib/mta-sts/cache.db");
  CHECK(c.zones.count("myzone") == 1);
}

TEST_CASE("postfix-mta-sts-resolver's redis example loads; the pool size is noted as unused") {
  const auto r = load(kTheirRedis);
  const Config& c = r.config;
  CHECK(c.cache.type == "redis");
  CHECK(c.cache.url == "redis://127.0.0.1/0");
  CHECK(c.cache.socket_timeout == 1.0);
  CHECK(c.cache.socket_connect_timeout == 1.0);
  REQUIRE(r.warnings.size() == 1);
  CHECK(r.warnings[0] ==
        "test.yml:9: key 'cache.options.max_connections' has no effect in mta-stsd "
        "(accepted for postfix-mta-sts-resolver compatibility)");
}

TEST_CASE("the example of mta-sts-daemon.yml(5) and their docker config load") {
  auto r = load(kTheirManPage);
  CHECK(r.warnings.empty());
  CHECK(r.config.proactive_policy_fetching.enabled);
  CHECK(r.config.proactive_policy_fetching.interval == 86400);
  CHECK(r.config.proactive_policy_fetching.concurrency_limit == 100);
  CHECK(r.config.proactive_policy_fetching.grace_ratio == 2.0);

  r = load(kTheirDocker);
  CHECK(r.warnings.empty());
  CHECK(r.config.host == "0.0.0.0");
  CHECK(r.config.cache.type == "sqlite");
  CHECK(r.config.zones.empty());
}

// postfix-mta-sts-resolver 1.5.0 config_examples/mta-sts-daemon.yml.redis_sentinel, verbatim.
const char* const kTheirRedisSentinel = R"(host: 127.0.0.1
port: 8461
reuse_port: true
shutdown_timeout: 20
cache:
  type: redis_sentinel
  options:
    sentinel_master_name: "mymaster"
    sentinels:
      - ["sentinel1", 26379]
      - ["sentinel2", 26379]
      - ["sentinel3", 26379]
    password: "StrongPassword"
    max_connections: 25
    socket_timeout: 1.0
    socket_connect_timeout: 1.0
default_zone:
  strict_testing: false
  timeout: 4
  #tlsrpt: true
zones:
  myzone:
    strict_testing: false
    timeout: 4
)";

TEST_CASE("postfix-mta-sts-resolver's redis_sentinel example loads: sentinels, master, password") {
  const auto r = load(kTheirRedisSentinel);
  const Config& c = r.config;
  CHECK(c.cache.type == "redis_sentinel");
  CHECK(c.cache.sentinel_master_name == "mymaster");
  CHECK(c.cache.sentinels == std::vector<SentinelAddress>{
                                 {"sentinel1", 26379}, {"sentinel2", 26379}, {"sentinel3", 26379}});
  CHECK(c.cache.password == "StrongPassword");
  CHECK(c.cache.has_password);
  CHECK(c.cache.socket_timeout == 1.0);
  CHECK(c.cache.socket_connect_timeout == 1.0);
  REQUIRE(r.warnings.size() == 1);
  CHECK(r.warnings[0] ==
        "test.yml:14: key 'cache.options.max_connections' has no effect in mta-stsd "
        "(accepted for postfix-mta-sts-resolver compatibility)");
  CHECK(r.unknown_keys.empty());

  // The keys in any order (type last), with the user and the database.
  const auto u = load(
      "cache:\n  options:\n    username: mail\n    db: 3\n    sentinels: [[10.0.0.1, "
      "26380]]\n    sentinel_master_name: m\n  type: redis_sentinel\n");
  CHECK(u.warnings.empty());
  CHECK(u.config.cache.username == "mail");
  CHECK(u.config.cache.db == 3);
  CHECK_FALSE(u.config.cache.has_password);
  CHECK(u.config.cache.sentinels == std::vector<SentinelAddress>{{"10.0.0.1", 26380}});
}

TEST_CASE("redis_sentinel: what is missing or malformed stops start-up, naming the key") {
  const std::string head = "cache:\n  type: redis_sentinel\n  options:\n";
  CHECK(error_of("cache:\n  type: redis_sentinel\n") ==
        "test.yml:2: cache.options.sentinels: is required with cache type redis_sentinel "
        "([[HOST, PORT], ...]) (got nothing)");
  CHECK(error_of(head + "    sentinels: [[h, 1]]\n") ==
        "test.yml:2: cache.options.sentinel_master_name: is required with cache type "
        "redis_sentinel (the name in the sentinels' 'sentinel monitor' line) (got nothing)");
  const std::string master = "    sentinel_master_name: m\n";
  CHECK(error_of(head + master + "    sentinels: []\n") ==
        "test.yml:5: cache.options.sentinels: must name at least one sentinel as [HOST, PORT] "
        "(got a list)");
  CHECK(error_of(head + master + "    sentinels: h:26379\n") ==
        "test.yml:5: cache.options.sentinels: must be a list of [HOST, PORT] pairs (got h:26379)");
  CHECK(error_of(head + master + "    sentinels:\n      - [h, 26379]\n      - h2:26379\n") ==
        "test.yml:7: cache.options.sentinels[1]: must be a [HOST, PORT] pair (got h2:26379)");
  CHECK(error_of(head + master + "    sentinels: [[h, 26379, 1]]\n") ==
        "test.yml:5: cache.options.sentinels[0]: must be a [HOST, PORT] pair (got a list)");
  CHECK(error_of(head + master + "    sentinels: [[h, 65536]]\n") ==
        "test.yml:5: cache.options.sentinels[0]: the port must be a whole number from 1 to "
        "65535 (got 65536)");
  CHECK(error_of(head + master + "    sentinels: [[\"\", 26379]]\n") ==
        "test.yml:5: cache.options.sentinels[0]: the host must not be empty (got \"\")");
  const std::string sentinels = "    sentinels: [[h, 26379]]\n";
  CHECK(error_of(head + sentinels + "    sentinel_master_name: [m]\n") ==
        "test.yml:5: cache.options.sentinel_master_name: must be a string (got a list)");
  CHECK(error_of(head + sentinels + master + "    db: -1\n") ==
        "test.yml:6: cache.options.db: must be a whole number from 0 to 2147483647 (got -1)");
}

TEST_CASE("redis_sentinel's keys with another cache type: no effect, or belong in the url") {
  auto r = load(
      "cache:\n  type: sqlite\n  options:\n    sentinels: [[h, 1]]\n    sentinel_master_name: "
      "m\n");
  CHECK(r.config.cache.sentinels.empty());
  CHECK(has_warning(r, "test.yml:4: cache.options.sentinels has no effect with cache type sqlite"));
  CHECK(has_warning(
      r, "test.yml:5: cache.options.sentinel_master_name has no effect with cache type sqlite"));
  // redis_sentinel ignores the url (it asks the sentinels), as redis-py's Sentinel does.
  r = load(
      "cache:\n  type: redis_sentinel\n  options:\n    url: redis://h\n    sentinels: [[h, 1]]\n"
      "    sentinel_master_name: m\n    ssl: true\n");
  CHECK(
      has_warning(r, "test.yml:4: cache.options.url has no effect with cache type redis_sentinel"));
  // A key mta-stsd does not know is what it is with every cache type.
  CHECK(has_warning(r, "test.yml:7: unknown key 'cache.options.ssl' ignored"));
}

TEST_CASE(
    "postfix-mta-sts-resolver's postgres backend: its dsn, in either libpq form, and timeout") {
  // Its documented example: a URL with the socket directory as the host.
  auto r = load(
      "cache:\n  type: postgres\n  options:\n    dsn: "
      "postgres://user@%2Frun%2Fpostgresql/user\n    timeout: 2.5\n");
  CHECK(r.warnings.empty());
  CHECK(r.config.cache.type == "postgres");
  CHECK(r.config.cache.dsn == "postgres://user@%2Frun%2Fpostgresql/user");
  CHECK(r.config.cache.timeout == 2.5);
  r = load("cache:\n  type: postgres\n  options:\n    dsn: \"host=/run/postgresql dbname=mail\"\n");
  CHECK(r.config.cache.dsn == "host=/run/postgresql dbname=mail");
  CHECK(test::error_of("cache:\n  type: postgres\n") ==
        "test.yml:2: cache.options.dsn: is required with cache type postgres "
        "(postgres://USER@HOST/DB or 'host=... dbname=...') (got nothing)");
  r = load("cache:\n  type: sqlite\n  options:\n    dsn: postgres://u@h/d\n");
  REQUIRE(r.warnings.size() == 1);
  CHECK(r.warnings[0] == "test.yml:4: cache.options.dsn has no effect with cache type sqlite");
}

TEST_CASE("absent keys keep config.hpp's defaults") {
  const Config defaults;
  CHECK(load("").config == defaults);
  CHECK(load("# only a comment\n").config == defaults);
  CHECK(load("---\n").config == defaults);
  CHECK(load("cache:\ndefault_zone:\nzones:\nlimits:\n").config == defaults);
  // Spot-check that the defaults are what the contract says (and what
  // postfix-mta-sts-resolver's defaults.py says, where it has the key).
  CHECK(defaults.host == "127.0.0.1");
  CHECK(defaults.port == 8461);
  CHECK(defaults.reuse_port);
  CHECK(defaults.shutdown_timeout == 20);
  CHECK(defaults.cache_grace == 60);
  CHECK(defaults.cache.type == "sqlite");
  CHECK(defaults.cache.cache_size == 10000);
  CHECK(defaults.default_zone.timeout == 4);
  CHECK(defaults.proactive_policy_fetching.interval == 86400);
  CHECK(defaults.proactive_policy_fetching.concurrency_limit == 100);
  CHECK(defaults.proactive_policy_fetching.grace_ratio == 2.0);
}

TEST_CASE("every key is read") {
  const auto r = load(R"(
host: "::1"
port: 10025
path: /run/mta-stsd/socket
mode: 0660
reuse_port: no
shutdown_timeout: 2.5
cache_grace: 120
cache:
  type: sqlite
  options:
    cache_size: 500
    filename: /tmp/cache.db
    timeout: 7
    socket_timeout: 3
    socket_connect_timeout: 2
default_zone:
  strict_testing: yes
  timeout: 10
  require_sni: off
  tlsrpt: on
zones:
  strict:
    strict_testing: true
  fast:
    timeout: 0.5
proactive_policy_fetching:
  enabled: false
  interval: 3600
  concurrency_limit: 5
  grace_ratio: 4.5
resolver:
  nameservers: ["127.0.0.1:5353", "[::1]:53", 192.0.2.53]
tls:
  ca_file: /etc/ssl/test-ca.pem
limits:
  max_connections: 100
  max_request_bytes: 2048
  idle_timeout: 30
  max_concurrent_resolutions: 16
  negative_ttl: 60
  retry_interval: 30
log_level: debug
)");
  CHECK(r.warnings.empty());
  const Config& c = r.config;
  CHECK(c.host == "::1");
  CHECK(c.port == 10025);
  CHECK(c.path == "/run/mta-stsd/socket");
  CHECK(c.mode == 0660);
  CHECK_FALSE(c.reuse_port);
  CHECK(c.shutdown_timeout == 2.5);
  CHECK(c.cache_grace == 120);
  CHECK(c.cache.type == "sqlite");
  CHECK(c.cache.cache_size == 500);
  CHECK(c.cache.filename == "/tmp/cache.db");
  CHECK(c.cache.timeout == 7);
  CHECK(c.cache.socket_timeout == 3);
  CHECK(c.cache.socket_connect_timeout == 2);
  CHECK(c.default_zone.strict_testing);
  CHECK(c.default_zone.timeout == 10);
  CHECK_FALSE(c.default_zone.require_sni);
  CHECK(c.default_zone.tlsrpt);
  REQUIRE(c.zones.size() == 2);
  // A zone's missing keys take the built-in defaults, not default_zone's
  // (postfix-mta-sts-resolver's populate_zone does the same).
  CHECK(c.zones.at("strict").strict_testing);
  CHECK(c.zones.at("strict").timeout == 4);
  CHECK(c.zones.at("strict").require_sni);
  CHECK(c.zones.at("fast").timeout == 0.5);
  CHECK_FALSE(c.zones.at("fast").strict_testing);
  CHECK_FALSE(c.proactive_policy_fetching.enabled);
  CHECK(c.proactive_policy_fetching.interval == 3600);
  CHECK(c.proactive_policy_fetching.concurrency_limit == 5);
  CHECK(c.proactive_policy_fetching.grace_ratio == 4.5);
  CHECK(c.nameservers == std::vector<std::string>{"127.0.0.1:5353", "[::1]:53", "192.0.2.53"});
  CHECK(c.ca_file == "/etc/ssl/test-ca.pem");
  CHECK(c.max_connections == 100);
  CHECK(c.max_request_bytes == 2048);
  CHECK(c.idle_timeout == 30);
  CHECK(c.max_concurrent_resolutions == 16);
  CHECK(c.negative_ttl == 60);
  CHECK(c.retry_interval == 30);
  CHECK(c.log_level == "debug");
}

TEST_CASE("cache types: memory is accepted beside internal; redis takes rediss and unix URLs") {
  CHECK(load("cache: {type: memory}").config.cache.type == "memory");
  CHECK(load("cache: {type: internal}").config.cache.type == "internal");
  for (const char* url : {"redis://localhost:6379/2", "rediss://:secret@redis.example/0",
                          "unix:///run/redis/redis.sock"}) {
    const auto r =
        load(std::string("cache:\n  type: redis\n  options:\n    url: \"") + url + "\"\n");
    CHECK(r.config.cache.url == url);
    CHECK(r.warnings.empty());
  }
  // sqlite without a filename is valid: the daemon picks its state directory.
  const auto r = load("cache:\n  type: sqlite\n");
  CHECK(r.config.cache.filename.empty());
  CHECK(r.warnings.empty());
}

TEST_CASE("mode: YAML 1.1 octal, YAML 1.2 octal, decimal") {
  CHECK(load("mode: 0666").config.mode == 0666);
  CHECK(load("mode: 0o600").config.mode == 0600);
  CHECK(load("mode: 0").config.mode == 0);
  CHECK(load("mode: \"0660\"").config.mode == 0660);
  // Decimal is taken as decimal; digits that could be octal get a warning.
  CHECK(load("mode: 432").config.mode == 0660);
  CHECK(load("mode: 432").warnings.size() == 1);
  const auto r = load("mode: 666");
  CHECK(r.config.mode == 666);
  REQUIRE(r.warnings.size() == 1);
  CHECK(r.warnings[0] == "test.yml:1: mode: 666 is decimal (octal 01232); write 0666 for octal");
  CHECK(load("mode: 438").config.mode == 0666);
  CHECK(load("mode: 438").warnings.empty());
}

TEST_CASE("booleans, numbers and nulls as PyYAML reads them") {
  auto c = load("reuse_port: off\ndefault_zone: {require_sni: No, tlsrpt: YES}\n").config;
  CHECK_FALSE(c.reuse_port);
  CHECK_FALSE(c.default_zone.require_sni);
  CHECK(c.default_zone.tlsrpt);
  // A quoted number still means the number (PyYAML hands Python a str that
  // asyncio happens to accept for a port).
  CHECK(load("port: \"8462\"").config.port == 8462);
  // "key: ~" and "key:" are absent keys, as cfg.get() returns None for both.
  c = load("port: ~\nhost:\npath: null\nreuse_port:\n").config;
  CHECK(c.port == 8461);
  CHECK(c.host == "127.0.0.1");
  CHECK(c.path.empty());
  CHECK(c.reuse_port);
  // Whole numbers written as floats are fine where an integer is expected.
  CHECK(load("port: 8461.0").config.port == 8461);
  CHECK(load("cache: {options: {cache_size: 1_000}}").config.cache.cache_size == 1000);
}

TEST_CASE("cache_grace takes a float, as in postfix-mta-sts-resolver, rounded up") {
  const auto r = load("cache_grace: 0.5\n");
  CHECK(r.config.cache_grace == 1);
  REQUIRE(r.warnings.size() == 1);
  CHECK(r.warnings[0] == "test.yml:1: cache_grace: 0.5 rounded up to 1 s");
  CHECK(load("cache_grace: 0").config.cache_grace == 0);
  CHECK(load("cache_grace: 90.0").warnings.empty());
}

TEST_CASE("log_level names, postfix-mta-sts-resolver's -v spellings included") {
  CHECK(load("log_level: trace").config.log_level == "trace");
  CHECK(load("log_level: warning").config.log_level == "warn");
  CHECK(load("log_level: warn").config.log_level == "warn");
  CHECK(load("log_level: fatal").config.log_level == "critical");
  CHECK(load("log_level: \"off\"").config.log_level == "off");
}

TEST_CASE("YAML anchors and merge keys, which PyYAML's safe_load honours") {
  const auto r = load(R"(
default_zone: &base
  timeout: 7
  require_sni: false
zones:
  a: *base
  b:
    <<: *base
    timeout: 9
  c:
    <<: [{strict_testing: true, timeout: 1}, *base]
)");
  CHECK(r.warnings.empty());
  const Config& c = r.config;
  CHECK(c.default_zone.timeout == 7);
  CHECK(c.zones.at("a").timeout == 7);
  CHECK_FALSE(c.zones.at("a").require_sni);
  CHECK(c.zones.at("b").timeout == 9);  // explicit keys win over merged ones
  CHECK_FALSE(c.zones.at("b").require_sni);
  CHECK(c.zones.at("c").strict_testing);
  CHECK(c.zones.at("c").timeout == 1);  // the first merged map wins
  CHECK_FALSE(c.zones.at("c").require_sni);
}

TEST_CASE("a repeated key whose first value is an anchor: the anchor keeps its own value") {
  // Replacing the first entry once wrote the later value into the anchor's node
  // (yaml-cpp's Node::operator=), so *base below read timeout 10; with an alias
  // inside the later value the document then referred to itself and reading it
  // touched freed memory (fuzz_config's crash, now in its corpus).
  const auto r = load(R"(
default_zone: &base
  timeout: 5
default_zone:
  timeout: 10
zones:
  z:
    <<: *base
)");
  CHECK(r.config.default_zone.timeout == 10);  // the last one counts
  CHECK(r.config.zones.at("z").timeout == 5);  // the anchor is the first value
  CHECK(has_warning(r, "test.yml:4: duplicate key 'default_zone': the last one is used"));

  // The fuzzer's reduced input: *base is the first, empty default_zone, which
  // cannot be merged (before, it had become the second one, holding itself).
  CHECK(error_of("default_zone: &base\ndefault_zone:\n  b: *base\n  b:\n<<: [{g}, *base]")
            .find("can only merge maps") != std::string::npos);
}

TEST_CASE("zone names: any non-empty string") {
  const auto c = load("zones:\n  postfix: {}\n  \"with space\":\n  123:\n    timeout: 2\n").config;
  CHECK(c.zones.size() == 3);
  CHECK(c.zones.count("postfix") == 1);
  CHECK(c.zones.count("with space") == 1);
  CHECK(c.zones.at("123").timeout == 2);
}

TEST_CASE("a repeated key: the last one counts, with a warning") {
  const auto r = load("port: 1000\nport: 2000\n");
  CHECK(r.config.port == 2000);
  CHECK(has_warning(r, "test.yml:2: duplicate key 'port': the last one is used"));
}
