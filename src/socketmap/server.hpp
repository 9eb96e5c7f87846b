#pragma once
// The socketmap server: accepts Postfix connections (TCP v4/v6 or UNIX socket),
// frames requests, hands them to a RequestHandler, writes replies in order.
#include <sys/types.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <boost/asio/io_context.hpp>

#include "socketmap/server_stats.hpp"

namespace mtasts::socketmap {

// Called once per request with the reply payload (without netstring framing).
using ReplyCallback = std::function<void(std::string_view payload)>;

class RequestHandler {
 public:
  virtual ~RequestHandler() = default;
  // Must call done exactly once, either synchronously (cache hit) or later from
  // the io_context thread. name is the socketmap name (zone), key the lookup key.
  virtual void handle(std::string_view name, std::string_view key, ReplyCallback done) = 0;
};

struct ServerOptions {
  // TCP: host may be a name of a local address ("127.0.0.1", "::1", "localhost",
  // "0.0.0.0", "::"); every address it resolves to is bound. Ignored when unix_path is set.
  std::string host = "127.0.0.1";
  std::uint16_t port = 8461;
  std::string unix_path;  // non-empty: listen on this UNIX socket instead of TCP
  unsigned unix_mode = 0666;
  // Owner and group of that socket file (-1: the daemon's own).
  uid_t unix_owner = static_cast<uid_t>(-1);
  gid_t unix_group = static_cast<gid_t>(-1);
  // Listening sockets handed over by systemd (socket activation): when any are
  // given, they are used instead of binding host/port or unix_path.
  std::vector<int> inherited_fds;
  bool reuse_port = true;
  std::size_t max_request_bytes = 10000 + 256;  // netstring payload limit (name + space + key)
  // Longest key (Postfix's socketmap_max_query_size): a longer one gets PERM and
  // the connection is closed, like a malformed netstring.
  std::size_t max_key_bytes = 10000;
  std::chrono::milliseconds idle_timeout{60000};  // close connections idle this long
  // A request must be complete this long after its first byte: Postfix writes
  // each request at once, a client trickling bytes holds a slot for nothing.
  std::chrono::milliseconds request_timeout{10000};
  std::chrono::milliseconds write_timeout{30000};  // close clients that do not read replies
  std::size_t max_connections = 4096;  // beyond this, new connections are closed at once
  // Requests in flight per connection before reading pauses.
  std::size_t max_pending_per_connection = 64;
};

// Single-threaded: every member function, and every ReplyCallback, runs on the
// thread that runs the io_context.
class Server {
 public:
  Server(boost::asio::io_context& io, ServerOptions options, RequestHandler& handler);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Binds and listens; throws std::runtime_error naming the address on failure.
  void start();
  // A configuration reload: max_connections, max_request_bytes / max_key_bytes,
  // idle_timeout and request_timeout from `limits` apply from now on (a
  // connection already open keeps the request size it was made with). Where it
  // listens does not change.
  void set_limits(const ServerOptions& limits);
  // Stops accepting; existing connections finish their pending replies then close.
  void stop_accepting();
  // Closes every connection now.
  void close_all();
  std::size_t connection_count() const;
  // Local endpoints actually bound, e.g. "127.0.0.1:8461", "[::1]:8461" (useful with
  // port 0), or the UNIX socket path. Empty after stop_accepting().
  std::vector<std::string> local_endpoints() const;
  // Counted since start (the daemon exports them as metrics).
  const ServerStats& stats() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace mtasts::socketmap
