#pragma once
// Wiring of the daemon: config -> DNS, HTTPS, policy resolver, socketmap server,
// signals and systemd notification, all on one io_context.
#include <memory>
#include <string>
#include <vector>

#include <boost/asio/io_context.hpp>

#include "config/config.hpp"

namespace mtasts::daemon {

// Where the configuration came from, for a reload (SIGHUP, mta-stsctl reload).
struct ConfigSource {
  std::string path;                // empty: the embedded configuration (nothing to re-read)
  std::string log_level_override;  // -l: wins over the file's log_level, at every reload
};

// Runs until SIGTERM/SIGINT and a drain of at most shutdown_timeout. Returns the
// process exit code; start-up failures are logged and give a non-zero code.
int run(const config::Config& config, const ConfigSource& source = {});

}  // namespace mtasts::daemon
