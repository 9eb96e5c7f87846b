#pragma once
// The start-up steps that depend on how the daemon was started: by systemd
// (inherited sockets) or by a plain init as root (accounts, privilege drop).
#include "config/config.hpp"
#include "daemon/privileges.hpp"
#include "socketmap/server.hpp"

namespace mtasts::daemon {

// Resolves the configured accounts and refuses root without privileges.user
// or privileges.allow_root. Returns 0, or the exit code after logging why
// (2: the configuration must change, a restart cannot help).
int check_accounts(const config::Config& config, Accounts& accounts);

// The socketmap server's options: systemd's sockets when it passed any (else
// host/port or path), the UNIX socket's owner and group.
socketmap::ServerOptions listener_options(const config::Config& config, const Accounts& accounts);

// Once sockets are bound and the store is open: becomes privileges.user, after
// handing it the SQLite cache files. False (logged) if the drop failed.
bool drop_privileges_if_asked(const config::Config& config, const Accounts& accounts);

}  // namespace mtasts::daemon
