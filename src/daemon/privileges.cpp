#include "daemon/privileges.hpp"

#include <grp.h>
#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>

#include <fmt/format.h>

namespace mtasts::daemon {
namespace {

bool is_number(const std::string& text) {
  return !text.empty() && text.find_first_not_of("0123456789") == std::string::npos;
}

std::string lookup_error(int error) {
  // getpw*_r report "not found" as 0 with no entry, other failures as an errno.
  return error == 0 ? std::string("no such") : std::strerror(error);
}

struct User {
  uid_t uid;
  gid_t gid;  // primary group
  std::string name;
};

User find_user(const std::string& key, const std::string& text) {
  if (is_number(text)) {
    // A number need not be in /etc/passwd (e.g. a DynamicUser range); its group
    // is then the number itself unless the passwd entry says otherwise.
    const auto uid = static_cast<uid_t>(std::stoul(text));
    errno = 0;
    if (const passwd* entry = ::getpwuid(uid)) return User{uid, entry->pw_gid, entry->pw_name};
    return User{uid, static_cast<gid_t>(uid), text};
  }
  errno = 0;
  const passwd* entry = ::getpwnam(text.c_str());
  if (entry == nullptr) {
    const int error = errno;
    throw std::runtime_error(fmt::format("{}: {} user '{}'", key, lookup_error(error), text));
  }
  return User{entry->pw_uid, entry->pw_gid, entry->pw_name};
}

std::pair<gid_t, std::string> find_group(const std::string& key, const std::string& text) {
  if (is_number(text)) {
    const auto gid = static_cast<gid_t>(std::stoul(text));
    if (const group* entry = ::getgrgid(gid)) return {gid, entry->gr_name};
    return {gid, text};
  }
  errno = 0;
  const group* entry = ::getgrnam(text.c_str());
  if (entry == nullptr) {
    const int error = errno;
    throw std::runtime_error(fmt::format("{}: {} group '{}'", key, lookup_error(error), text));
  }
  return {entry->gr_gid, entry->gr_name};
}

}  // namespace

Accounts resolve_accounts(const config::Config& config) {
  Accounts accounts;
  if (!config.owner.empty()) accounts.socket_owner = find_user("owner", config.owner).uid;
  if (!config.group.empty()) accounts.socket_group = find_group("group", config.group).first;
  const auto& p = config.privileges;
  if (!p.user.empty()) {
    const User user = find_user("privileges.user", p.user);
    if (user.uid == 0) {
      throw std::runtime_error(
          fmt::format("privileges.user: '{}' is root; name an unprivileged user", p.user));
    }
    Account account{user.uid, user.gid, user.name};
    if (!p.group.empty())
      std::tie(account.gid, std::ignore) = find_group("privileges.group", p.group);
    const group* entry = ::getgrgid(account.gid);
    account.name +=
        ":" + (entry != nullptr ? std::string(entry->gr_name) : std::to_string(account.gid));
    accounts.run_as = account;
  }
  return accounts;
}

std::string refusal(const config::Config& config, const Accounts& accounts) {
  const uid_t uid = ::geteuid();
  if (accounts.run_as) {
    if (uid == 0 || uid == accounts.run_as->uid) return {};
    return fmt::format(
        "privileges.user is {} but mta-stsd runs as uid {}: only root can change user (start it as "
        "root, or remove privileges.user)",
        accounts.run_as->name, uid);
  }
  if (uid == 0 && !config.privileges.allow_root) {
    return "refusing to run as root: set privileges.user (e.g. an mta-stsd account) to drop "
           "privileges after start-up, use the systemd unit (DynamicUser), or set "
           "privileges.allow_root: true";
  }
  return {};
}

std::vector<std::string> hand_over(const std::vector<std::string>& paths, const Account& account) {
  std::vector<std::string> failures;
  for (const auto& path : paths) {
    struct stat st {};
    if (::lstat(path.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) continue;
    if (::chown(path.c_str(), account.uid, account.gid) != 0) {
      failures.push_back(
          fmt::format("cannot give {} to {}: {}", path, account.name, std::strerror(errno)));
    }
  }
  return failures;
}

void drop_privileges(const Account& account) {
  auto fail = [&](const char* step) {
    throw std::runtime_error(fmt::format("cannot drop privileges to {}: {}: {}", account.name, step,
                                         std::strerror(errno)));
  };
  // Groups first: once the uid is not root, they can no longer be changed.
  if (::setgroups(1, &account.gid) != 0) fail("setgroups");
  if (::setgid(account.gid) != 0) fail("setgid");
  if (::setuid(account.uid) != 0) fail("setuid");
  uid_t ruid = 0, euid = 0, suid = 0;
  gid_t rgid = 0, egid = 0, sgid = 0;
  if (::getresuid(&ruid, &euid, &suid) != 0 || ::getresgid(&rgid, &egid, &sgid) != 0) {
    fail("getresuid");
  }
  if (ruid != account.uid || euid != account.uid || suid != account.uid || rgid != account.gid ||
      egid != account.gid || sgid != account.gid) {
    throw std::runtime_error(
        fmt::format("cannot drop privileges to {}: ids are uid {}/{}/{} gid {}/{}/{}", account.name,
                    ruid, euid, suid, rgid, egid, sgid));
  }
  // The point of the exercise: a process that could become root again has
  // dropped nothing (e.g. a saved set-user-id left at 0).
  if (::setuid(0) == 0 || ::seteuid(0) == 0) {
    throw std::runtime_error(
        fmt::format("dropped privileges to {}, yet setuid(0) succeeded", account.name));
  }
}

}  // namespace mtasts::daemon
