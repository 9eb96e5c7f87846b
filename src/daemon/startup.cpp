#include "daemon/startup.hpp"

#include <unistd.h>

#include <spdlog/spdlog.h>

#include "daemon/socket_activation.hpp"
#include "setup/setup.hpp"

namespace mtasts::daemon {

int check_accounts(const config::Config& config, Accounts& accounts) {
  try {
    accounts = resolve_accounts(config);
  } catch (const std::exception& e) {
    spdlog::critical("cannot start: {}", e.what());
    return 2;
  }
  if (const auto why = refusal(config, accounts); !why.empty()) {
    spdlog::critical("cannot start: {}", why);
    return 2;
  }
  if (::geteuid() == 0 && !accounts.run_as) {
    spdlog::warn("running as root (privileges.allow_root); privileges.user would drop it");
  }
  return 0;
}

socketmap::ServerOptions listener_options(const config::Config& config, const Accounts& accounts) {
  auto options = setup::server_options(config);
  if (accounts.socket_owner) options.unix_owner = *accounts.socket_owner;
  if (accounts.socket_group) options.unix_group = *accounts.socket_group;
  const auto inherited = inherited_sockets();
  if (!inherited.empty()) {
    std::string names;
    for (const auto& socket : inherited) {
      options.inherited_fds.push_back(socket.fd);
      names += (names.empty() ? "" : ", ") + (socket.name.empty() ? "unnamed" : socket.name);
    }
    // The unit decides where to listen (and the socket file's owner and mode).
    spdlog::info("socket activation: {} listening socket(s) from systemd ({}); {} not bound",
                 inherited.size(), names,
                 config.path.empty() ? fmt::format("host/port {}:{}", config.host, config.port)
                                     : "path " + config.path);
  }
  return options;
}

bool drop_privileges_if_asked(const config::Config& config, const Accounts& accounts) {
  if (!accounts.run_as || ::geteuid() == accounts.run_as->uid) return true;
  const Account& account = *accounts.run_as;
  if (const auto db = setup::local_cache_file(config.cache)) {
    // The store's files were opened as root; its read connections reopen the
    // database later, and a new -wal/-shm may be made, as the new user.
    for (const auto& failure : hand_over({*db, *db + "-wal", *db + "-shm"}, account)) {
      spdlog::warn("privileges: {}", failure);
    }
  }
  try {
    drop_privileges(account);
  } catch (const std::exception& e) {
    spdlog::critical("{}", e.what());
    return false;
  }
  spdlog::info("privileges: now running as {} (uid {}, gid {}); root cannot be regained",
               account.name, account.uid, account.gid);
  return true;
}

}  // namespace mtasts::daemon
