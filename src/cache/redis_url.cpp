#include "cache/redis_url.hpp"

#include <charconv>
#include <limits>
#include <stdexcept>

#include <spdlog/spdlog.h>

namespace mtasts::cache {

namespace {

constexpr std::size_t kMaxUnixPath = 107;  // sockaddr_un::sun_path holds 108 bytes with the NUL

[[noreturn]] void fail(const std::string& why) {
  // The URL itself is not repeated: it may carry a password.
  throw std::invalid_argument("redis URL: " + why);
}

bool iequals_prefix(std::string_view text, std::string_view prefix) {
  if (text.size() < prefix.size()) return false;
  for (std::size_t i = 0; i < prefix.size(); ++i) {
    char c = text[i];
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    if (c != prefix[i]) return false;
  }
  return true;
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// RFC 3986 §2.1: user, password and path may be percent-encoded.
std::string percent_decode(std::string_view text, const char* what) {
  std::string out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] != '%') {
      out += text[i];
      continue;
    }
    if (i + 2 >= text.size()) fail(std::string("bad percent escape in ") + what);
    const int hi = hex_value(text[i + 1]);
    const int lo = hex_value(text[i + 2]);
    if (hi < 0 || lo < 0) fail(std::string("bad percent escape in ") + what);
    out += static_cast<char>(hi * 16 + lo);
    i += 2;
  }
  return out;
}

int parse_number(std::string_view text, int min, int max, const char* what) {
  int value = 0;
  const auto* end = text.data() + text.size();
  auto [ptr, ec] = std::from_chars(text.data(), end, value);
  if (text.empty() || ec != std::errc{} || ptr != end || value < min || value > max) {
    fail(std::string(what) + " '" + std::string(text.substr(0, 32)) + "' is not a number from " +
         std::to_string(min) + " to " + std::to_string(max));
  }
  return value;
}

int parse_db(std::string_view text) {
  return parse_number(text, 0, std::numeric_limits<int>::max(), "database");
}

// "user:password" (either part may be empty; no colon = user only).
void parse_userinfo(std::string_view info, RedisEndpoint& endpoint) {
  const auto colon = info.find(':');
  endpoint.user = percent_decode(info.substr(0, colon), "the user name");
  if (colon != std::string_view::npos) {
    endpoint.password = percent_decode(info.substr(colon + 1), "the password");
    endpoint.has_password = true;
  }
  // AUTH needs a password; redis-py would send an empty one and fail at run time.
  if (!endpoint.user.empty() && !endpoint.has_password) {
    fail("user '" + endpoint.user + "' given without a password (write USER:PASSWORD@)");
  }
}

// "?db=N&password=P": what redis-py reads from the query; its other options
// (timeouts, pool sizes) come from the configuration file here, so they are ignored.
void parse_query(std::string_view query, RedisEndpoint& endpoint, bool& db_from_query) {
  while (!query.empty()) {
    const auto amp = query.find('&');
    const auto param = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view{} : query.substr(amp + 1);
    if (param.empty()) continue;
    const auto eq = param.find('=');
    const auto name = param.substr(0, eq);
    const auto value = eq == std::string_view::npos ? std::string_view{} : param.substr(eq + 1);
    if (name == "db") {
      endpoint.db = parse_db(value);
      db_from_query = true;
    } else if (name == "password") {
      endpoint.password = percent_decode(value, "the password");
      endpoint.has_password = true;
    } else {
      spdlog::warn("redis URL: ignoring query parameter '{}' (set timeouts in the configuration)",
                   std::string(name.substr(0, 64)));
    }
  }
}

bool host_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '.' || c == '_';
}

void parse_host_port(std::string_view hostport, RedisEndpoint& endpoint) {
  std::string_view port;
  bool has_port = false;
  if (!hostport.empty() && hostport.front() == '[') {
    const auto close = hostport.find(']');
    if (close == std::string_view::npos) fail("IPv6 address without closing ']'");
    endpoint.host = std::string(hostport.substr(1, close - 1));
    for (char c : endpoint.host) {
      if (hex_value(c) < 0 && c != ':' && c != '.') fail("bad IPv6 address in brackets");
    }
    if (endpoint.host.empty()) fail("empty IPv6 address");
    const auto rest = hostport.substr(close + 1);
    if (!rest.empty()) {
      if (rest.front() != ':') fail("unexpected text after the IPv6 address");
      port = rest.substr(1);
      has_port = true;
    }
  } else {
    const auto colon = hostport.find(':');
    if (colon != std::string_view::npos &&
        hostport.find(':', colon + 1) != std::string_view::npos) {
      fail("an IPv6 address must be written in brackets, e.g. redis://[::1]:6379");
    }
    endpoint.host = std::string(hostport.substr(0, colon));
    if (colon != std::string_view::npos) {
      port = hostport.substr(colon + 1);
      has_port = true;
    }
    for (char c : endpoint.host) {
      if (!host_char(c)) fail("bad character in host name '" + endpoint.host.substr(0, 64) + "'");
    }
    // redis-py connects to localhost when the host is left out.
    if (endpoint.host.empty()) endpoint.host = "localhost";
  }
  if (has_port) endpoint.port = parse_number(port, 1, 65535, "port");
}

RedisEndpoint parse_tcp(std::string_view rest) {
  RedisEndpoint endpoint;
  std::string_view query;
  if (const auto q = rest.find('?'); q != std::string_view::npos) {
    query = rest.substr(q + 1);
    rest = rest.substr(0, q);
  }
  if (rest.find('#') != std::string_view::npos) fail("fragments ('#') are not allowed");
  const auto slash = rest.find('/');
  auto authority = rest.substr(0, slash);
  const auto path = slash == std::string_view::npos ? std::string_view{} : rest.substr(slash + 1);
  // The last '@' separates the user part: a password may contain a raw '@'.
  if (const auto at = authority.rfind('@'); at != std::string_view::npos) {
    parse_userinfo(authority.substr(0, at), endpoint);
    authority = authority.substr(at + 1);
  }
  parse_host_port(authority, endpoint);
  bool db_from_query = false;
  parse_query(query, endpoint, db_from_query);
  if (!path.empty()) {
    if (path.find('/') != std::string_view::npos) fail("the path must be just the database number");
    // As redis-py: the path's database wins over ?db=.
    endpoint.db = parse_db(path);
  }
  return endpoint;
}

RedisEndpoint parse_unix(std::string_view rest) {
  RedisEndpoint endpoint;
  endpoint.unix_socket = true;
  endpoint.port = 0;
  std::string_view query;
  if (const auto q = rest.find('?'); q != std::string_view::npos) {
    query = rest.substr(q + 1);
    rest = rest.substr(0, q);
  }
  if (!rest.empty() && rest.front() != '/') {
    const auto at = rest.find("@/");
    if (at == std::string_view::npos) fail("unix socket URLs are unix:///absolute/path");
    parse_userinfo(rest.substr(0, at), endpoint);
    rest = rest.substr(at + 1);
  }
  endpoint.path = percent_decode(rest, "the socket path");
  if (endpoint.path.size() < 2) fail("unix socket URL without a path (unix:///path/to.sock)");
  if (endpoint.path.size() > kMaxUnixPath) {
    fail("unix socket path longer than " + std::to_string(kMaxUnixPath) + " bytes");
  }
  if (endpoint.path.find('\0') != std::string::npos) fail("NUL in the socket path");
  bool db_from_query = false;
  parse_query(query, endpoint, db_from_query);
  return endpoint;
}

}  // namespace

RedisEndpoint parse_redis_url(std::string_view url) {
  if (iequals_prefix(url, "redis://")) return parse_tcp(url.substr(8));
  if (iequals_prefix(url, "unix://")) return parse_unix(url.substr(7));
  if (iequals_prefix(url, "rediss://")) {
    fail(
        "rediss:// (TLS) is not supported: Debian 12's hiredis 0.14 has no TLS; use redis:// "
        "over a trusted network or unix:///path");
  }
  if (url.empty()) fail("empty (expected redis://HOST[:PORT][/DB] or unix:///PATH)");
  fail("unknown scheme (expected redis://HOST[:PORT][/DB] or unix:///PATH)");
}

std::string RedisEndpoint::describe() const {
  const std::string who = user.empty() ? std::string{} : user + "@";
  if (unix_socket) return "unix://" + who + path + "?db=" + std::to_string(db);
  const std::string shown = host.find(':') != std::string::npos ? "[" + host + "]" : host;
  return "redis://" + who + shown + ":" + std::to_string(port) + "/" + std::to_string(db);
}

}  // namespace mtasts::cache
