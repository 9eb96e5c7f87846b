#pragma once
#include <string>

namespace mtasts::daemon {

// stderr logging (systemd's journal or the admin's terminal); level names as in
// the config's log_level. Throws std::invalid_argument on an unknown level.
void setup_logging(const std::string& level);

}  // namespace mtasts::daemon
