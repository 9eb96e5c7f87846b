#pragma once
// Where the Redis store connects: the `cache.url` of the configuration, in the
// forms redis-py (postfix-mta-sts-resolver's client) accepts for plain
// connections:
//   redis://[USER][:PASSWORD]@HOST[:PORT][/DB][?db=N]
//   unix://[[USER]:PASSWORD@]/path/to.sock[?db=N][&password=P]
// hiredis 0.14 has no TLS, so rediss:// is refused with a clear message.
#include <string>
#include <string_view>

namespace mtasts::cache {

struct RedisEndpoint {
  bool unix_socket = false;
  std::string host;  // TCP: name or address, without IPv6 brackets
  int port = 6379;
  std::string path;  // unix socket path
  std::string user;  // Redis 6 ACL user; empty = "default"
  std::string password;
  bool has_password = false;  // "redis://:@host" sends AUTH with an empty password
  int db = 0;

  // For logs: never contains the password. "redis://host:6379/0", "unix:///run/r.sock?db=2".
  std::string describe() const;
};

// Throws std::invalid_argument naming what is wrong ("redis URL 'x': port 99999 out of range").
RedisEndpoint parse_redis_url(std::string_view url);

}  // namespace mtasts::cache
