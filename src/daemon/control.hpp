#pragma once
// The daemon's end of the admin's control channel (control/protocol.hpp): a
// UNIX stream socket (mode 0600) on which mta-stsctl asks the running daemon to
// list, show, purge, prefetch, export and import cached policies.
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <boost/asio/io_context.hpp>

#include "config/config.hpp"
#include "control/protocol.hpp"
#include "resolver/policy_resolver.hpp"
#include "util/clock.hpp"

namespace mtasts::daemon {

// ----- the server ----------------------------------------------------------------------

struct ControlOptions {
  std::string path;
  unsigned mode = 0600;  // only root and the daemon's own user
  std::size_t max_line = control::kMaxControlLine;
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
  // What `reload` runs: the daemon's configuration reload, returning the JSON
  // reply ({"reloaded": ...} or {"error": ...}).
  void on_reload(std::function<std::string()> reload);

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
