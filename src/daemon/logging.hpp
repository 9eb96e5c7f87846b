#pragma once
#include <string>

#include "config/config.hpp"

namespace mtasts::daemon {

// The daemon's logger: log.target stderr (systemd's journal or the admin's
// terminal), syslog (syslog(3) to /dev/log, log.facility, "mta-stsd[PID]" as
// Postfix's lines look) or journald (sd_journal_send, with DOMAIN, ANSWER and
// REASON fields where a line names them). Level names as in the config's
// log_level. Throws std::invalid_argument on an unknown level, target or facility.
void setup_logging(const std::string& level, const config::LogConfig& log = {});
// A reload's log.target and log.facility: lines go to the new target from now
// on (every thread's, without a lost or torn line); the level stays. Throws
// std::invalid_argument as setup_logging does, and then changes nothing.
void switch_log_target(const config::LogConfig& log);

}  // namespace mtasts::daemon
