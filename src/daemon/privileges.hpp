#pragma once
// Running without systemd: the accounts named in the configuration (socket
// owner and group, privileges.user and group), the refusal to run as root, and
// the irreversible drop to an unprivileged user after start-up.
#include <sys/types.h>

#include <optional>
#include <string>
#include <vector>

#include "config/config.hpp"

namespace mtasts::daemon {

struct Account {
  uid_t uid = 0;
  gid_t gid = 0;
  std::string name;  // "nobody:nogroup", for the log
};

struct Accounts {
  std::optional<uid_t> socket_owner;  // owner:
  std::optional<gid_t> socket_group;  // group:
  std::optional<Account> run_as;      // privileges.user / privileges.group
};

// Looks the names up (numbers are taken as they are). Throws std::runtime_error
// naming the key, e.g. "privileges.user: no such user 'mta-sts'".
Accounts resolve_accounts(const config::Config& config);

// Why this process must not go on, or empty: root without privileges.user and
// without privileges.allow_root; a privileges.user set for a process that is
// neither root nor already that user.
std::string refusal(const config::Config& config, const Accounts& accounts);

// Hands files the daemon keeps writing (the SQLite cache and its -wal/-shm)
// to the account, so it can still reopen them once it runs as that user.
// Files that do not exist are skipped; failures are returned as messages.
std::vector<std::string> hand_over(const std::vector<std::string>& paths, const Account& account);

// setgroups (the account's group only), setgid, setuid; then checks that every
// real, effective and saved id is the account's and that setuid(0) fails.
// Throws std::runtime_error if any step fails: the caller must not go on.
void drop_privileges(const Account& account);

}  // namespace mtasts::daemon
