#include "daemon/logging.hpp"

#include <syslog.h>
#include <unistd.h>

#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <spdlog/sinks/dist_sink.h>
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

// Under systemd the journal adds its own timestamp; on a terminal ours helps.
spdlog::sink_ptr stderr_sink() {
  auto sink = std::make_shared<spdlog::sinks::stderr_sink_st>();
  sink->set_pattern(::getenv("JOURNAL_STREAM") != nullptr ? "%l %v" : "%Y-%m-%d %H:%M:%S.%e %l %v");
  return sink;
}

// Where the lines go, and a warning to log once they go there.
struct Target {
  spdlog::sink_ptr sink;
  std::string warning;
};

// syslog(3) and sd_journal_send drop lines silently when nobody listens: the
// admin's terminal or init's log is better than nothing.
std::optional<Target> unless_missing(const std::string& target, const char* path) {
  if (::access(path, W_OK) == 0) return std::nullopt;
  return Target{stderr_sink(), fmt::format("log.target {}: {} does not exist or is not "
                                           "writable; logging to stderr",
                                           target, path)};
}

Target make_target(const config::LogConfig& log) {
  const auto facility = config::syslog_facility(log.facility);
  if (!facility) throw std::invalid_argument("unknown syslog facility '" + log.facility + "'");
  if (log.target == "syslog") {
    if (auto fallback = unless_missing(log.target, kSyslogSocket)) return *fallback;
    // LOG_NDELAY: connect to /dev/log now, while start-up may still see it
    // (before a privilege drop), not at the first line.
    auto sink = std::make_shared<spdlog::sinks::syslog_sink_st>(kIdent, LOG_PID | LOG_NDELAY,
                                                                *facility, true);
    sink->set_pattern("%v");  // syslog adds the time, host and mta-stsd[PID]
    return {std::move(sink), {}};
  }
  if (log.target == "journald") {
    if (auto fallback = unless_missing(log.target, kJournalSocket)) return *fallback;
    auto sink = std::make_shared<JournaldSink>(kIdent, *facility);
    sink->set_pattern("%v");
    return {std::move(sink), {}};
  }
  if (log.target != "stderr") {
    throw std::invalid_argument("unknown log target '" + log.target + "'");
  }
  return {stderr_sink(), {}};
}

// The default logger's one sink, whose target a reload swaps: set_sinks is
// thread-safe, and its mutex also serialises the single-threaded sinks inside
// for every thread that logs (the event loop, the SQLite writer, Redis's).
std::shared_ptr<spdlog::sinks::dist_sink_mt>& current_target() {
  static std::shared_ptr<spdlog::sinks::dist_sink_mt> target;
  return target;
}

}  // namespace

void setup_logging(const std::string& level, const config::LogConfig& log) {
  auto parsed = spdlog::level::from_str(level);
  if (parsed == spdlog::level::off && level != "off") {
    throw std::invalid_argument("unknown log level '" + level + "'");
  }
  auto target = make_target(log);
  auto& dist = current_target();
  dist = std::make_shared<spdlog::sinks::dist_sink_mt>(std::vector<spdlog::sink_ptr>{target.sink});
  auto logger = std::make_shared<spdlog::logger>(kIdent, dist);
  logger->set_level(parsed);
  spdlog::drop(kIdent);
  spdlog::set_default_logger(logger);
  if (!target.warning.empty()) spdlog::warn("{}", target.warning);
}

void switch_log_target(const config::LogConfig& log) {
  auto& dist = current_target();
  if (!dist) return setup_logging("info", log);
  auto target = make_target(log);
  dist->set_sinks({target.sink});
  if (!target.warning.empty()) spdlog::warn("{}", target.warning);
}

}  // namespace mtasts::daemon
