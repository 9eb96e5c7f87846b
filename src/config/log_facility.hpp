#pragma once
// syslog facility names (log.facility) and their syslog(3) values, in one table
// for the configuration check and the syslog sink.
#include <optional>
#include <string_view>

namespace mtasts::config {

// LOG_MAIL for "mail", etc.; nullopt for a name syslog(3) does not know.
std::optional<int> syslog_facility(std::string_view name);

// "auth, authpriv, cron, daemon, ..." for error messages.
std::string_view syslog_facility_names();

}  // namespace mtasts::config
