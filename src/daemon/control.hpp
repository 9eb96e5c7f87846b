#pragma once
// The admin's control channel: a UNIX stream socket (mode 0600) on which
// mta-stsctl asks the running daemon to list, show, purge and prefetch cached
// policies. One request line in, one JSON object per line out; several requests
// may share a connection.
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <boost/asio/io_context.hpp>

#include "cache/cached_policy.hpp"
#include "config/config.hpp"
#include "resolver/policy_resolver.hpp"
#include "util/clock.hpp"

namespace mtasts::daemon {

// ----- where the socket is (shared by mta-stsd and mta-stsctl) --------------------------

// The daemon's choice when control_socket is empty: $RUNTIME_DIRECTORY/control.sock
// (systemd's RuntimeDirectory=), else /run/mta-stsd/control.sock when that
// directory is writable, else var/mta-stsd/control.sock relative to the cwd.
std::string default_control_socket_path();
// The socket the daemon listens on; "" when control_socket is "none".
std::string control_socket_path(const config::Config& config);

// ----- the protocol (pure) --------------------------------------------------------------

inline constexpr std::size_t kMaxControlLine = 4096;

struct ControlRequest {
  enum class Command { list, show, purge, prefetch, stats };
  Command command = Command::stats;
  std::string argument;  // the domain, as typed, for show, purge and prefetch
};

struct ControlParse {
  std::optional<ControlRequest> request;
  std::string error;  // why the line is not a request (for the error reply)
};

// "COMMAND [ARGUMENT]": words separated by spaces or tabs, a trailing CR ignored.
ControlParse parse_control_request(std::string_view line);

// One cached policy as list and show report it (a JSON object, one line).
std::string policy_json(const cache::CachedPolicy& policy);
// {"error": message}
std::string error_json(std::string_view message);

// Picks the elements of the arrays directly inside the top-level object out of
// a JSON text fed in pieces, so a client can handle a huge `list` reply one
// policy at a time. Everything else (the rest of the object, with the arrays
// left empty) is kept in rest(). Strings and escapes are honoured; nothing is
// validated beyond nesting.
class JsonArrayElements {
 public:
  // Returns the elements completed by this piece.
  std::vector<std::string> feed(std::string_view piece);
  const std::string& rest() const { return rest_; }

 private:
  std::string rest_;
  std::string element_;
  int depth_ = 0;
  bool in_string_ = false;
  bool escaped_ = false;
};

// ----- the server ----------------------------------------------------------------------

struct ControlOptions {
  std::string path;
  unsigned mode = 0600;  // only root and the daemon's own user
  std::size_t max_line = kMaxControlLine;
  // A client that sends nothing, or does not read what it asked for, this long is
  // dropped.
  std::chrono::milliseconds idle_timeout{30000};
  std::size_t max_connections = 16;     // each may hold a list snapshot
  std::size_t chunk_bytes = 64 * 1024;  // a list reply is written in pieces of this size
};

// Single-threaded, on the daemon's io_context.
class ControlServer {
 public:
  // zones: the daemon's zones ([0] default), for show's per-zone answers.
  ControlServer(boost::asio::io_context& io, ControlOptions options,
                resolver::PolicyResolver& policies, std::vector<resolver::Zone> zones,
                const util::Clock& clock);
  ~ControlServer();
  ControlServer(const ControlServer&) = delete;
  ControlServer& operator=(const ControlServer&) = delete;

  // Binds (creating the parent directory if missing) and accepts; throws
  // std::runtime_error naming the path.
  void start();
  // Closes the socket (removing its file) and every connection.
  void stop();
  std::size_t connection_count() const;

  struct State;

 private:
  std::shared_ptr<State> state_;
};

// The daemon's wiring: the server for config's control_socket, started, or
// nullptr when it is "none" or cannot listen (logged: mail keeps flowing
// without the admin channel).
std::unique_ptr<ControlServer> start_control_server(boost::asio::io_context& io,
                                                    const config::Config& config,
                                                    resolver::PolicyResolver& policies,
                                                    const util::Clock& clock);

}  // namespace mtasts::daemon
