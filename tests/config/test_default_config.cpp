// The embedded default configuration loads back to exactly config.hpp's defaults.
#include <doctest/doctest.h>

#include <sstream>
#include <string>

#include "config/config.hpp"

using namespace mtasts::config;

TEST_CASE("embedded default configuration round trip") {
  const auto r = load_config_text(default_config_yaml(), "<embedded>");
  CHECK(r.warnings.empty());
  const Config defaults;
  const Config& c = r.config;
  // Field by field first, so a failure says which one.
  CHECK(c.host == defaults.host);
  CHECK(c.port == defaults.port);
  CHECK(c.path == defaults.path);
  CHECK(c.mode == defaults.mode);
  CHECK(c.reuse_port == defaults.reuse_port);
  CHECK(c.control_socket == defaults.control_socket);
  CHECK(c.shutdown_timeout == defaults.shutdown_timeout);
  CHECK(c.cache_grace == defaults.cache_grace);
  CHECK(c.cache == defaults.cache);
  CHECK(c.default_zone == defaults.default_zone);
  CHECK(c.zones == defaults.zones);
  CHECK(c.proactive_policy_fetching == defaults.proactive_policy_fetching);
  CHECK(c.nameservers == defaults.nameservers);
  CHECK(c.ca_file == defaults.ca_file);
  CHECK(c.max_connections == defaults.max_connections);
  CHECK(c.max_request_bytes == defaults.max_request_bytes);
  CHECK(c.idle_timeout == defaults.idle_timeout);
  CHECK(c.max_concurrent_resolutions == defaults.max_concurrent_resolutions);
  CHECK(c.negative_ttl == defaults.negative_ttl);
  CHECK(c.retry_interval == defaults.retry_interval);
  CHECK(c.log_level == defaults.log_level);
  CHECK(c == defaults);
}

TEST_CASE("embedded default configuration lists every key, each with a comment") {
  const std::string& text = default_config_yaml();
  for (const char* key : {"host:",
                          "port:",
                          "path:",
                          "mode: 0666",
                          "reuse_port:",
                          "control_socket:",
                          "shutdown_timeout:",
                          "cache_grace:",
                          "cache:",
                          "type:",
                          "options:",
                          "cache_size:",
                          "filename:",
                          "url:",
                          "socket_timeout:",
                          "socket_connect_timeout:",
                          "default_zone:",
                          "strict_testing:",
                          "timeout:",
                          "require_sni:",
                          "tlsrpt:",
                          "zones:",
                          "proactive_policy_fetching:",
                          "enabled:",
                          "interval:",
                          "concurrency_limit:",
                          "grace_ratio:",
                          "resolver:",
                          "nameservers:",
                          "tls:",
                          "ca_file:",
                          "limits:",
                          "max_connections:",
                          "max_request_bytes:",
                          "idle_timeout:",
                          "max_concurrent_resolutions:",
                          "negative_ttl:",
                          "retry_interval:",
                          "log_level:"})
    CHECK_MESSAGE(text.find(key) != std::string::npos, key);
  // Every line that sets a scalar carries a one-line comment.
  std::istringstream lines(text);
  std::string line;
  while (std::getline(lines, line)) {
    if (line.empty() || line[0] == '#') continue;
    const bool opens_map = line.back() == ':';
    if (!opens_map) CHECK_MESSAGE(line.find("  # ") != std::string::npos, line);
  }
}

TEST_CASE("control_socket: empty by default, a path, none, or too long") {
  CHECK(Config{}.control_socket.empty());
  CHECK(load_config_text("control_socket: /run/x/control.sock\n", "t.yml").config.control_socket ==
        "/run/x/control.sock");
  CHECK(load_config_text("control_socket: none\n", "t.yml").config.control_socket == "none");
  CHECK(load_config_text("control_socket:\n", "t.yml").config.control_socket.empty());
  // sockaddr_un.sun_path holds 107 bytes and the NUL.
  CHECK_NOTHROW(load_config_text("control_socket: /" + std::string(106, 'a') + "\n", "t.yml"));
  CHECK_THROWS_AS(load_config_text("control_socket: /" + std::string(107, 'a') + "\n", "t.yml"),
                  ConfigError);
  CHECK_THROWS_AS(load_config_text("control_socket: [a, b]\n", "t.yml"), ConfigError);
}
