// mta-stsd: MTA-STS (RFC 8461) policy daemon for Postfix's smtp_tls_policy_maps.
#include <spdlog/spdlog.h>
#include <CLI/CLI.hpp>
#include <cstdio>
#include <iostream>

#include "config/config.hpp"
#include "daemon/daemon.hpp"
#include "daemon/logging.hpp"
#include "daemon/privileges.hpp"

int main(int argc, char** argv) {
  CLI::App app{"mta-stsd: MTA-STS policy daemon for Postfix (socketmap)"};
  std::string config_file;
  std::string log_level;
  bool check_only = false;
  bool print_default = false;
  bool version = false;
  app.add_option("-c,--config", config_file,
                 "YAML configuration file (default: the embedded configuration)");
  app.add_option("-l,--log-level", log_level, "override log_level: trace|debug|info|warn|error");
  app.add_flag("--check-config", check_only, "check the configuration and exit");
  app.add_flag("--print-default-config", print_default,
               "print the embedded configuration and exit");
  app.add_flag("-V,--version", version, "print the version and exit");
  CLI11_PARSE(app, argc, argv);

  if (version) {
    std::cout << "mta-stsd " << MTASTSD_VERSION << "\n";
    return 0;
  }
  if (print_default) {
    std::cout << mtasts::config::default_config_yaml();
    return 0;
  }
  mtasts::config::LoadResult loaded;
  try {
    loaded = config_file.empty() ? mtasts::config::load_config_text(
                                       mtasts::config::default_config_yaml(), "<embedded>")
                                 : mtasts::config::load_config_file(config_file);
  } catch (const mtasts::config::ConfigError& e) {
    std::fprintf(stderr, "mta-stsd: configuration error: %s\n", e.what());
    return 2;
  }
  if (!log_level.empty()) loaded.config.log_level = log_level;
  if (config_file.empty()) {
    // Without -c the embedded configuration is a first try from a build tree
    // (README: `./build/mta-stsd` as root); a configuration file decides for
    // itself (privileges.user or privileges.allow_root).
    loaded.config.privileges.allow_root = true;
  }
  try {
    mtasts::daemon::setup_logging(loaded.config.log_level, loaded.config.log);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "mta-stsd: configuration error: log: %s\n", e.what());
    return 2;
  }
  for (const auto& warning : loaded.warnings) spdlog::warn("configuration: {}", warning);
  if (check_only) {
    // The accounts named exist here (the daemon looks them up again when it starts).
    try {
      mtasts::daemon::resolve_accounts(loaded.config);
    } catch (const std::exception& e) {
      std::fprintf(stderr, "mta-stsd: configuration error: %s\n", e.what());
      return 2;
    }
    const char* name = config_file.empty() ? "<embedded>" : config_file.c_str();
    if (!loaded.unknown_keys.empty()) {
      // The daemon would start (ignoring them), but a misspelt key is a setting
      // the admin believes is in force: a check must not say OK.
      std::fprintf(stderr,
                   "mta-stsd: %s: %zu unknown key(s), neither mta-stsd's nor "
                   "postfix-mta-sts-resolver's (misspelt?):\n",
                   name, loaded.unknown_keys.size());
      for (const auto& key : loaded.unknown_keys) std::fprintf(stderr, "  %s\n", key.c_str());
      return 1;
    }
    std::printf("%s: configuration OK\n", name);
    return 0;
  }
  return mtasts::daemon::run(loaded.config, {config_file, log_level});
}
