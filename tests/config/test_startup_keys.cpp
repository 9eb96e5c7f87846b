// Start-up keys (issue 14): the UNIX socket's owner and group, privileges.*,
// log.* — defaults, accepted values, and errors that name the key.
#include <doctest/doctest.h>

#include <string>

#include "config/config.hpp"
#include "config/log_facility.hpp"
#include "config_test_util.hpp"

using namespace mtasts::config;
using mtasts::config::test::error_of;
using mtasts::config::test::load;

TEST_CASE("start-up keys: defaults") {
  const Config c;
  CHECK(c.owner.empty());
  CHECK(c.group.empty());
  CHECK(c.privileges.user.empty());
  CHECK(c.privileges.group.empty());
  CHECK_FALSE(c.privileges.allow_root);  // root is refused unless the file says so
  CHECK(c.log.target == "stderr");
  CHECK(c.log.facility == "mail");  // as Postfix logs
  const std::string& text = default_config_yaml();
  for (const char* key : {"owner:", "group:", "privileges:", "user:", "allow_root: false",
                          "log:", "target: stderr", "facility: mail"})
    CHECK_MESSAGE(text.find(key) != std::string::npos, key);
}

TEST_CASE("socket owner and group: names or numbers") {
  const auto c = load("path: /run/x.sock\nmode: 0660\nowner: mta-sts\ngroup: postfix\n").config;
  CHECK(c.owner == "mta-sts");
  CHECK(c.group == "postfix");
  CHECK(c.mode == 0660);
  CHECK(load("owner: 0\ngroup: 4294967294\n").config.group == "4294967294");
  CHECK(load("owner: machine$\n").config.owner == "machine$");
  CHECK(error_of("owner: 4294967295\n").find("test.yml:1: owner: must be a user or group name") ==
        0);
  CHECK(error_of("group: -x\n").find("group: must be a user or group name") != std::string::npos);
  CHECK(error_of("group: a:b\n").find("group: must be") != std::string::npos);
  CHECK(error_of("owner: a$b\n").find("owner: must be") != std::string::npos);
  CHECK(error_of("owner: [a]\n").find("owner: must be a string") != std::string::npos);
}

TEST_CASE("privileges") {
  const auto c =
      load("privileges:\n  user: nobody\n  group: nogroup\n  allow_root: false\n").config;
  CHECK(c.privileges.user == "nobody");
  CHECK(c.privileges.group == "nogroup");
  CHECK(load("privileges: {allow_root: yes}\n").config.privileges.allow_root);
  CHECK(error_of("privileges: {allow_root: maybe}\n")
            .find("privileges.allow_root: must be true or false") != std::string::npos);
  CHECK(
      error_of("privileges: {group: nogroup}\n").find("privileges.group: needs privileges.user") !=
      std::string::npos);
  CHECK(error_of("privileges: {user: 'a b'}\n").find("privileges.user: must be") !=
        std::string::npos);
  CHECK(error_of("privileges: nobody\n").find("privileges: must be a map") != std::string::npos);
  const auto unknown = load("privileges: {chroot: /x}\n");
  CHECK(mtasts::config::test::has_warning(unknown,
                                          "test.yml:1: unknown key 'privileges.chroot' ignored"));
}

TEST_CASE("log target and facility") {
  CHECK(load("log: {target: syslog}\n").config.log.target == "syslog");
  CHECK(load("log: {target: journald, facility: local3}\n").config.log.facility == "local3");
  CHECK(error_of("log: {target: file}\n").find("log.target: must be stderr, syslog or journald") !=
        std::string::npos);
  CHECK(error_of("log: {facility: kern}\n").find("log.facility: must be a syslog facility") !=
        std::string::npos);
  CHECK(syslog_facility("mail") == 2 << 3);
  CHECK(syslog_facility("local7") == 23 << 3);
  CHECK_FALSE(syslog_facility("MAIL"));
}
