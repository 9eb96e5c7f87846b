// Refused configurations: each error names source, line, key path and value.
#include <doctest/doctest.h>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <string>

#include "config/config.hpp"
#include "config_test_util.hpp"
#include "support/temp_dir.hpp"

using namespace mtasts::config;
using mtasts::config::test::error_of;
using mtasts::config::test::has_warning;
using mtasts::config::test::load;

TEST_CASE("wrong types") {
  CHECK(error_of("reuse_port: maybe") ==
        "test.yml:1: reuse_port: must be true or false (got maybe)");
  CHECK(error_of("reuse_port: \"true\"") == "");  // intent is plain
  CHECK(error_of("port: http") ==
        "test.yml:1: port: must be a whole number from 1 to 65535 (got http)");
  CHECK(error_of("host: [a, b]") == "test.yml:1: host: must be a string (got a list)");
  CHECK(error_of("cache: [internal]") == "test.yml:1: cache: must be a map of keys (got a list)");
  CHECK(error_of("cache: internal") == "test.yml:1: cache: must be a map of keys (got internal)");
  CHECK(error_of("zones:\n  - myzone\n") ==
        "test.yml:2: zones: must be a map of keys (got a list)");
  CHECK(error_of("default_zone:\n  timeout: {a: 1}\n") ==
        "test.yml:2: default_zone.timeout: must be a number of seconds above 0, at most 90 (got a "
        "map)");
  CHECK(error_of("zones:\n  z:\n    strict_testing: 1\n") ==
        "test.yml:3: zones.z.strict_testing: must be true or false (got 1)");
  CHECK(error_of("resolver:\n  nameservers: 127.0.0.1\n") ==
        "test.yml:2: resolver.nameservers: must be a list of addresses (got 127.0.0.1)");
  CHECK(error_of("tls: {ca_file: {x: 1}}") ==
        "test.yml:1: tls.ca_file: must be a string (got a map)");
}

TEST_CASE("numbers out of range") {
  CHECK(error_of("port: 0") == "test.yml:1: port: must be a whole number from 1 to 65535 (got 0)");
  CHECK(error_of("port: 65536") ==
        "test.yml:1: port: must be a whole number from 1 to 65535 (got 65536)");
  CHECK(error_of("port: -25") ==
        "test.yml:1: port: must be a whole number from 1 to 65535 (got -25)");
  CHECK(error_of("port: 25.5") ==
        "test.yml:1: port: must be a whole number from 1 to 65535 (got 25.5)");
  CHECK(error_of("port: 99999999999999999999999") ==
        "test.yml:1: port: must be a whole number from 1 to 65535 (got 99999999999999999999999)");
  CHECK(error_of("mode: 010000") ==
        "test.yml:1: mode: must be a file mode from 0 to 07777, written in octal as 0660 (got "
        "010000)");
  CHECK(error_of("mode: 0o7778").find("test.yml:1: mode: ") == 0);
  CHECK(error_of("shutdown_timeout: -1") ==
        "test.yml:1: shutdown_timeout: must be a number of seconds from 0 to 3600 (got -1)");
  CHECK(error_of("cache_grace: -5") ==
        "test.yml:1: cache_grace: must be a number of seconds from 0 to 31557600 (got -5)");
  CHECK(error_of("cache_grace: .nan").find("test.yml:1: cache_grace:") == 0);
  CHECK(
      error_of("default_zone: {timeout: 0}") ==
      "test.yml:1: default_zone.timeout: must be a number of seconds above 0, at most 90 (got 0)");
  CHECK(error_of("default_zone:\n  timeout: 100\n") ==
        "test.yml:2: default_zone.timeout: must be a number of seconds above 0, at most 90 (got "
        "100)");
  CHECK(error_of("default_zone: {timeout: .inf}").find("default_zone.timeout") !=
        std::string::npos);
  CHECK(error_of("cache:\n  options:\n    cache_size: 0\n") ==
        "test.yml:3: cache.options.cache_size: must be a whole number from 1 to 100000000 (got 0)");
  CHECK(error_of("cache:\n  options:\n    cache_size: 100000001\n")
            .find("test.yml:3: cache.options.cache_size:") == 0);
  CHECK(error_of("proactive_policy_fetching:\n  grace_ratio: 0\n") ==
        "test.yml:2: proactive_policy_fetching.grace_ratio: must be a number above 0, at most "
        "1000000 (got 0)");
  CHECK(error_of("proactive_policy_fetching:\n  grace_ratio: -2\n").find("grace_ratio") !=
        std::string::npos);
  CHECK(error_of("proactive_policy_fetching:\n  interval: 0\n") ==
        "test.yml:2: proactive_policy_fetching.interval: must be a number of seconds from 1 to "
        "31557600 (got 0)");
  CHECK(error_of("proactive_policy_fetching:\n  concurrency_limit: 0\n")
            .find("test.yml:2: proactive_policy_fetching.concurrency_limit:") == 0);
  CHECK(error_of("limits:\n  max_connections: 0\n").find("test.yml:2: limits.max_connections:") ==
        0);
  CHECK(
      error_of("limits:\n  max_request_bytes: 100\n") ==
      "test.yml:2: limits.max_request_bytes: must be a whole number from 512 to 1000000 (got 100)");
  CHECK(error_of("limits:\n  idle_timeout: 0\n").find("test.yml:2: limits.idle_timeout:") == 0);
  CHECK(error_of("limits:\n  max_concurrent_resolutions: -1\n")
            .find("test.yml:2: limits.max_concurrent_resolutions:") == 0);
  CHECK(error_of("limits:\n  negative_ttl: 86401\n").find("test.yml:2: limits.negative_ttl:") == 0);
  CHECK(error_of("limits:\n  retry_interval: 0\n").find("test.yml:2: limits.retry_interval:") == 0);
  CHECK(
      error_of("cache:\n  options:\n    timeout: 0\n").find("test.yml:3: cache.options.timeout:") ==
      0);
}

TEST_CASE("strings that cannot be used") {
  CHECK(error_of("host: \"\"") == "test.yml:1: host: must not be empty (got \"\")");
  CHECK(error_of("path: \"/tmp/a\\nb\"") ==
        "test.yml:1: path: must not contain control characters (got /tmp/a\\x0ab)");
  CHECK(error_of("path: /" + std::string(107, 'a')) ==
        "test.yml:1: path: longer than a UNIX socket path can be (107 bytes) (got /" +
            std::string(63, 'a') + "...[+44 bytes])");
  CHECK(error_of("log_level: loud") ==
        "test.yml:1: log_level: must be trace, debug, info, warn, error, critical or off (got "
        "loud)");
  CHECK(error_of("zones:\n  \"\":\n    timeout: 1\n") ==
        "test.yml:2: zones.: a zone name must not be empty (got \"\")");
}

TEST_CASE("cache type and backend options") {
  CHECK(error_of("cache:\n  options: {}\n  type: memcached\n") ==
        "test.yml:3: cache.type: unknown cache type; accepted types are internal, memory, sqlite, "
        "redis, redis_sentinel, postgres (got memcached)");
  CHECK(error_of("cache:\n  type: redis\n") ==
        "test.yml:2: cache.options.url: is required with cache type redis (got nothing)");
  CHECK(error_of("cache:\n  type: redis\n  options:\n    url: \"\"\n") ==
        "test.yml:2: cache.options.url: is required with cache type redis (got \"\")");
  CHECK(error_of("cache:\n  type: redis\n  options:\n    url: http://127.0.0.1:6379\n") ==
        "test.yml:4: cache.options.url: must start with redis://, rediss:// or unix:/// (an "
        "absolute socket path) (got http://127.0.0.1:6379)");
  CHECK(error_of("cache:\n  type: redis\n  options:\n    url: unix://relative.sock\n")
            .find("test.yml:4: cache.options.url:") == 0);
  const auto r = load("cache:\n  options:\n    url: redis://localhost\n");
  CHECK(has_warning(r, "test.yml:3: cache.options.url has no effect with cache type sqlite"));
  const auto p = load("cache:\n  type: redis\n  options:\n    url: redis://h\n    password: x\n");
  CHECK(has_warning(p,
                    "test.yml:5: unknown key 'cache.options.password' ignored (write it in "
                    "cache.options.url: redis://[USER][:PASSWORD]@HOST[:PORT][/DB])"));
}

TEST_CASE("nameservers are checked one by one") {
  CHECK(error_of("resolver:\n  nameservers:\n    - 127.0.0.1\n    - dns.example\n") ==
        "test.yml:4: resolver.nameservers[1]: must be ADDR, ADDR:PORT or [IPV6]:PORT with a "
        "literal IP address (got dns.example)");
  CHECK(error_of("resolver:\n  nameservers: [\"[::1]:0\"]\n")
            .find("test.yml:2: resolver.nameservers[0]:") == 0);
  CHECK(error_of("resolver:\n  nameservers: [[1]]\n").find("(got a list)") != std::string::npos);
  CHECK(load("resolver:\n  nameservers: []\n").config.nameservers.empty());
}

TEST_CASE("unknown keys anywhere are warnings naming key and line") {
  const auto r = load(R"(host: 127.0.0.1
colour: blue
cache:
  type: internal
  size: 5
  options:
    cache_sise: 10
default_zone:
  strict: true
zones:
  z:
    timout: 3
proactive_policy_fetching:
  enable: true
limits:
  max_conns: 3
resolver:
  servers: []
tls:
  ca_path: /etc/ssl/certs
)");
  CHECK(r.warnings == std::vector<std::string>{
                          "test.yml:2: unknown key 'colour' ignored",
                          "test.yml:5: unknown key 'cache.size' ignored",
                          "test.yml:7: unknown key 'cache.options.cache_sise' ignored",
                          "test.yml:9: unknown key 'default_zone.strict' ignored",
                          "test.yml:12: unknown key 'zones.z.timout' ignored",
                          "test.yml:14: unknown key 'proactive_policy_fetching.enable' ignored",
                          "test.yml:16: unknown key 'limits.max_conns' ignored",
                          "test.yml:18: unknown key 'resolver.servers' ignored",
                          "test.yml:20: unknown key 'tls.ca_path' ignored",
                      });
  // Each also listed for --check-config, which fails on them (issue 12).
  CHECK(r.unknown_keys ==
        std::vector<std::string>{
            "test.yml:2: colour", "test.yml:5: cache.size", "test.yml:7: cache.options.cache_sise",
            "test.yml:9: default_zone.strict", "test.yml:12: zones.z.timout",
            "test.yml:14: proactive_policy_fetching.enable", "test.yml:16: limits.max_conns",
            "test.yml:18: resolver.servers", "test.yml:20: tls.ca_path"});
  CHECK(r.config.default_zone == ZoneConfig{});
}

TEST_CASE("invalid YAML, with its line") {
  CHECK(error_of("host: 127.0.0.1\ncache: {type: internal\n").find("test.yml:") == 0);
  CHECK(error_of("host: 127.0.0.1\ncache: {type: internal\n").find("invalid YAML") !=
        std::string::npos);
  CHECK(error_of("a: b\n  c: d\n").find("test.yml:2: invalid YAML") == 0);
  CHECK(error_of("cache:\n\ttype: sqlite\n").find("test.yml:2: invalid YAML") == 0);  // tab indent
  CHECK(error_of("host: a: b\n").find("test.yml:1: invalid YAML") == 0);
  CHECK(error_of("port: *nowhere\n").find("invalid YAML") != std::string::npos);
}

TEST_CASE("the top level must be one map") {
  CHECK(error_of("- host: 127.0.0.1\n") ==
        "test.yml:1: the configuration must be a map of keys (got a list)");
  CHECK(error_of("just text\n") ==
        "test.yml:1: the configuration must be a map of keys (got just text)");
  CHECK(error_of("port: 1\n---\nport: 2\n") ==
        "test.yml:2: a second YAML document; the configuration is one map");
  CHECK(error_of("[a, b]: 1\n") == "test.yml:1: (top level): keys must be strings (got a list)");
}

TEST_CASE("hostile input is an error, never a crash") {
  CHECK(error_of(std::string(100000, '[')).find("invalid YAML") != std::string::npos);
  CHECK(error_of(std::string(100000, '{')).find("invalid YAML") != std::string::npos);
  CHECK_NOTHROW((void)error_of(std::string("port: 1\0\xff\xfe: 2", 14)));
  CHECK_NOTHROW((void)error_of("\xef\xbb\xbfport: 25\n"));
  // Aliases to a node that contains them: yaml-cpp 0.7 builds a cycle whose
  // walk reads freed memory (fuzz_config finding), so they are refused.
  const std::string recursive =
      ": an alias refers to a node that contains it; the configuration cannot be recursive";
  CHECK(error_of("default_zone: &z\n  <<: *z\n") == "test.yml:2" + recursive);
  CHECK(error_of("zones: &z\n  a: *z\n") == "test.yml:2" + recursive);
  CHECK(error_of("&b\nb: *b\nb") == "test.yml:2" + recursive);
  CHECK(error_of("a: &l [1, *l]\n") == "test.yml:1" + recursive);
  // An alias to a finished node is fine, even used twice.
  CHECK(error_of("x-zone: &z {timeout: 4}\nzones: {a: *z, b: *z}\n").empty());
  // Merges deep and wide: a cap on the work, not only on the depth.
  std::string laughs = "x0: &a0 {timeout: 1}\n";
  for (int i = 1; i <= 9; ++i) {
    laughs += "x" + std::to_string(i) + ": &a" + std::to_string(i) + " {<<: [";
    for (int j = 0; j < 10; ++j) laughs += (j ? ", *a" : "*a") + std::to_string(i - 1);
    laughs += "]}\n";
  }
  laughs += "default_zone: {<<: *a9}\n";
  CHECK(error_of(laughs).find("more than 1000 merges in all") != std::string::npos);
  CHECK(error_of("default_zone:\n  <<: 5\n") ==
        "test.yml:2: default_zone.<<: can only merge maps (got 5)");
}

using mtasts_test::TempDir;

namespace {}  // namespace

TEST_CASE("load_config_file: reads a file, names it in errors") {
  TempDir dir;
  const std::string file = dir.path.string() + "/mta-sts-daemon.yml";
  std::ofstream(file) << "port: 8462\nbogus: 1\n";
  const auto r = load_config_file(file);
  CHECK(r.config.port == 8462);
  CHECK(r.warnings == std::vector<std::string>{file + ":2: unknown key 'bogus' ignored"});

  std::ofstream(file) << "port: 0\n";
  try {
    load_config_file(file);
    FAIL("port 0 accepted");
  } catch (const ConfigError& e) {
    CHECK(std::string(e.what()) ==
          file + ":1: port: must be a whole number from 1 to 65535 (got 0)");
  }

  std::ofstream(file, std::ios::trunc).close();
  CHECK(load_config_file(file).config == Config{});  // empty file = all defaults
}

TEST_CASE("load_config_file: an unreadable file is a ConfigError naming path and reason") {
  TempDir dir;
  auto message = [](const std::string& path) -> std::string {
    try {
      load_config_file(path);
    } catch (const ConfigError& e) {
      return e.what();
    }
    return "";
  };
  CHECK(message(dir.path.string() + "/missing.yml") ==
        "cannot read configuration file '" + dir.path.string() +
            "/missing.yml': No such file or directory");
  CHECK(message(dir.path.string()) ==
        "cannot read configuration file '" + dir.path.string() + "': Is a directory");
  const std::string big = dir.path.string() + "/big.yml";
  std::ofstream(big) << std::string(2 * 1024 * 1024, '#');
  CHECK(message(big) == "cannot read configuration file '" + big + "': File too large");
  if (::geteuid() != 0) {  // root reads anything
    const std::string locked = dir.path.string() + "/locked.yml";
    std::ofstream(locked) << "port: 1\n";
    REQUIRE(::chmod(locked.c_str(), 0) == 0);
    CHECK(message(locked) == "cannot read configuration file '" + locked + "': Permission denied");
  }
}

TEST_CASE("dane: defaults, every key, and what is refused") {
  const auto defaults = load("").config.dane;
  CHECK(defaults.enabled);
  CHECK(defaults.on_failure == "temp");
  CHECK(defaults.min_ttl == 60);
  CHECK(defaults.max_ttl == 3600);
  CHECK(defaults.stale_ttl == 3600);
  const auto d =
      load("dane: {enabled: false, on_failure: sts, min_ttl: 5, max_ttl: 50, stale_ttl: 0}")
          .config.dane;
  CHECK_FALSE(d.enabled);
  CHECK(d.on_failure == "sts");
  CHECK(d.min_ttl == 5);
  CHECK(d.max_ttl == 50);
  CHECK(d.stale_ttl == 0);
  CHECK(error_of("dane: {on_failure: defer}") ==
        "test.yml:1: dane.on_failure: must be temp or sts (got defer)");
  CHECK(error_of("dane: {min_ttl: 0}").find("dane.min_ttl") != std::string::npos);
  CHECK(error_of("dane: {min_ttl: 600, max_ttl: 60}") ==
        "test.yml:1: dane.min_ttl: must not be above max_ttl (got 600 > 60)");
  CHECK(error_of("dane: yes") == "test.yml:1: dane: must be a map of keys (got yes)");
  CHECK(has_warning(load("dane: {tlsa: 1}"), "test.yml:1: unknown key 'dane.tlsa' ignored"));
}

TEST_CASE("limits.request_timeout") {
  CHECK(load("").config.request_timeout == 10);
  CHECK(load("limits: {request_timeout: 2.5}").config.request_timeout == 2.5);
  CHECK(error_of("limits: {request_timeout: 0}").find("limits.request_timeout") !=
        std::string::npos);
}

TEST_CASE("alarms.expiry_warning: a list of seconds, each named when wrong") {
  CHECK(load("").config.alarm_expiry_warning == std::vector<std::uint32_t>{604800, 86400});
  CHECK(load("alarms: {expiry_warning: [1209600, 3600]}\n").config.alarm_expiry_warning ==
        std::vector<std::uint32_t>{1209600, 3600});
  CHECK(load("alarms: {expiry_warning: []}\n").config.alarm_expiry_warning.empty());
  CHECK(
      error_of("alarms: {expiry_warning: 86400}\n").find("alarms.expiry_warning: must be a list") !=
      std::string::npos);
  CHECK(error_of("alarms: {expiry_warning: [86400, soon]}\n").find("alarms.expiry_warning[1]") !=
        std::string::npos);
  CHECK(error_of("alarms: {expiry_warning: [0]}\n").find("alarms.expiry_warning[0]") !=
        std::string::npos);
  CHECK(has_warning(load("alarms: {warn: 1}\n"), "test.yml:1: unknown key 'alarms.warn' ignored"));
}
