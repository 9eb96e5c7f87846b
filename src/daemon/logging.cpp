#include "daemon/logging.hpp"

#include <syslog.h>
#include <unistd.h>

#include <memory>
#include <stdexcept>

#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/sinks/syslog_sink.h>
#include <spdlog/spdlog.h>

#include "config/log_facility.hpp"
#include "daemon/journald_sink.hpp"

namespace mtasts::daemon {

namespace {

constexpr const char* kIdent = "mta-stsd";
constexpr const char* kSyslogSocket = "/dev/log";  // glibc's _PATH_LOG
constexpr const char* kJournalSocket = "/run/systemd/journal/socket";

std::shared_ptr<spdlog::logger> stderr_logger() {
  auto logger = spdlog::stderr_logger_st(kIdent);
  // Under systemd the journal adds its own timestamp; on a terminal ours helps.
  if (::getenv("JOURNAL_STREAM") != nullptr) {
    logger->set_pattern("%l %v");
  } else {
    logger->set_pattern("%Y-%m-%d %H:%M:%S.%e %l %v");
  }
  return logger;
}

// syslog(3) and sd_journal_send drop lines silently when nobody listens: the
// admin's terminal or init's log is better than nothing.
std::shared_ptr<spdlog::logger> unless_missing(const std::string& target, const char* path) {
  if (::access(path, W_OK) == 0) return nullptr;
  auto logger = stderr_logger();
  logger->warn("log.target {}: {} does not exist or is not writable; logging to stderr", target,
               path);
  return logger;
}

std::shared_ptr<spdlog::logger> make_logger(const config::LogConfig& log) {
  const auto facility = config::syslog_facility(log.facility);
  if (!facility) throw std::invalid_argument("unknown syslog facility '" + log.facility + "'");
  if (log.target == "syslog") {
    if (auto logger = unless_missing(log.target, kSyslogSocket)) return logger;
    // LOG_NDELAY: connect to /dev/log now, while start-up may still see it
    // (before a privilege drop), not at the first line.
    auto sink = std::make_shared<spdlog::sinks::syslog_sink_st>(kIdent, LOG_PID | LOG_NDELAY,
                                                                *facility, true);
    auto logger = std::make_shared<spdlog::logger>(kIdent, std::move(sink));
    logger->set_pattern("%v");  // syslog adds the time, host and mta-stsd[PID]
    return logger;
  }
  if (log.target == "journald") {
    if (auto logger = unless_missing(log.target, kJournalSocket)) return logger;
    auto logger =
        std::make_shared<spdlog::logger>(kIdent, std::make_shared<JournaldSink>(kIdent, *facility));
    logger->set_pattern("%v");
    return logger;
  }
  if (log.target != "stderr") {
    throw std::invalid_argument("unknown log target '" + log.target + "'");
  }
  return stderr_logger();
}

}  // namespace

void setup_logging(const std::string& level, const config::LogConfig& log) {
  auto parsed = spdlog::level::from_str(level);
  if (parsed == spdlog::level::off && level != "off") {
    throw std::invalid_argument("unknown log level '" + level + "'");
  }
  spdlog::drop(kIdent);  // stderr_logger_st registers the name
  auto logger = make_logger(log);
  logger->set_level(parsed);
  spdlog::set_default_logger(logger);
}

}  // namespace mtasts::daemon
