#include "config/log_facility.hpp"

#include <syslog.h>

#include <array>
#include <utility>

namespace mtasts::config {
namespace {

constexpr std::array<std::pair<std::string_view, int>, 19> kFacilities = {{
    {"auth", LOG_AUTH},     {"authpriv", LOG_AUTHPRIV}, {"cron", LOG_CRON},
    {"daemon", LOG_DAEMON}, {"ftp", LOG_FTP},           {"lpr", LOG_LPR},
    {"mail", LOG_MAIL},     {"news", LOG_NEWS},         {"syslog", LOG_SYSLOG},
    {"user", LOG_USER},     {"uucp", LOG_UUCP},         {"local0", LOG_LOCAL0},
    {"local1", LOG_LOCAL1}, {"local2", LOG_LOCAL2},     {"local3", LOG_LOCAL3},
    {"local4", LOG_LOCAL4}, {"local5", LOG_LOCAL5},     {"local6", LOG_LOCAL6},
    {"local7", LOG_LOCAL7},
}};

}  // namespace

std::optional<int> syslog_facility(std::string_view name) {
  for (const auto& [known, value] : kFacilities) {
    if (known == name) return value;
  }
  return std::nullopt;
}

std::string_view syslog_facility_names() {
  return "auth, authpriv, cron, daemon, ftp, lpr, mail, news, syslog, user, uucp, local0-local7";
}

}  // namespace mtasts::config
