#pragma once
// The admin's control channel as both programs speak it: where the socket is,
// the request line, and the JSON the daemon answers with. mta-stsd serves it
// (daemon/control.hpp), mta-stsctl asks. One request line in, one JSON object
// per line out; several requests may share a connection. Pure logic.
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "cache/cached_policy.hpp"
#include "config/config.hpp"

namespace mtasts::control {

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
  // export: the reply is JSON lines (control/transfer.hpp) ended by an empty line.
  // import: the request line is followed by JSON lines ended by an empty line;
  // one JSON reply when that line arrives.
  enum class Command { list, show, purge, prefetch, stats, alarms, reload, export_, import_ };
  Command command = Command::stats;
  std::string argument;  // the domain, as typed, for show, purge and prefetch
};

struct ControlParse {
  std::optional<ControlRequest> request;
  std::string error;  // why the line is not a request (for the error reply)
};

// "COMMAND [ARGUMENT]": words separated by spaces or tabs, a trailing CR ignored.
ControlParse parse_control_request(std::string_view line);

// Every JSON text either program writes is built as one of these: ordered, so
// the fields come in the order the replies document.
using Json = nlohmann::ordered_json;

// A reply (or any JSON the programs write) as one line: compact, UTF-8 as it
// is, a byte that is not part of valid UTF-8 (hostile input) replaced by
// U+FFFD, so the text is always valid JSON and never throws.
std::string dump(const Json& value);

// One cached policy as list and show report it.
// source: where the daemon holds it, "memory" or "store" (only the store
// holds it: cache_size dropped it from memory; the next query reads it back).
Json policy_object(const cache::CachedPolicy& policy, std::string_view source = "memory");
std::string policy_json(const cache::CachedPolicy& policy, std::string_view source = "memory");
// {"error": message}
std::string error_json(std::string_view message);
// purge's reply: {"domain", "purged": whether the daemon held anything for it}
std::string purge_json(std::string_view domain, bool purged);
// prefetch's reply: {"domain", "started": a discovery began, "cached": a policy is
// cached now (so none was needed)}
std::string prefetch_json(std::string_view domain, bool started, bool cached);

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

}  // namespace mtasts::control
