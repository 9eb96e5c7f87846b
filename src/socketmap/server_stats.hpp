#pragma once
// What the socketmap server counts about its connections and requests. Plain
// numbers: the server and whoever reads them (the daemon's metrics, at scrape
// time) run on the io_context's one thread.
#include <cstdint>

namespace mtasts::socketmap {

struct ServerStats {
  std::uint64_t accepted = 0;          // connections taken
  std::uint64_t refused = 0;           // closed at once: max_connections were open
  std::uint64_t idle_timeouts = 0;     // closed after idle_timeout without a request
  std::uint64_t request_timeouts = 0;  // a request incomplete after request_timeout
  std::uint64_t write_timeouts = 0;    // a client that did not read its replies
  // Requests answered PERM and the connection closed: a malformed netstring or
  // request, or a key longer than the limit.
  std::uint64_t malformed = 0;
};

}  // namespace mtasts::socketmap
