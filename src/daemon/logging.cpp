#include "daemon/logging.hpp"

#include <unistd.h>

#include <stdexcept>

#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

namespace mtasts::daemon {

void setup_logging(const std::string& level) {
  auto parsed = spdlog::level::from_str(level);
  if (parsed == spdlog::level::off && level != "off") {
    throw std::invalid_argument("unknown log level '" + level + "'");
  }
  auto logger = spdlog::stderr_logger_st("mta-stsd");
  // Under systemd the journal adds its own timestamp; on a terminal ours helps.
  if (::getenv("JOURNAL_STREAM") != nullptr) {
    logger->set_pattern("%l %v");
  } else {
    logger->set_pattern("%Y-%m-%d %H:%M:%S.%e %l %v");
  }
  logger->set_level(parsed);
  spdlog::set_default_logger(logger);
}

}  // namespace mtasts::daemon
