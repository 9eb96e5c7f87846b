#include "control/protocol.hpp"

#include <unistd.h>

#include <array>
#include <cstdlib>

#include <fmt/format.h>

namespace mtasts::control {

// ----- paths ---------------------------------------------------------------------------

std::string default_control_socket_path() {
  // Mirrors default_cache_path(): systemd's RuntimeDirectory= first (it may list
  // several directories, colon-separated), then the installed location, then a
  // directory next to where a source-tree daemon runs.
  if (const char* runtime = ::getenv("RUNTIME_DIRECTORY"); runtime != nullptr && *runtime != '\0') {
    std::string dir = runtime;
    if (auto colon = dir.find(':'); colon != std::string::npos) dir.resize(colon);
    return dir + "/control.sock";
  }
  if (::access("/run/mta-stsd", W_OK) == 0) return "/run/mta-stsd/control.sock";
  return "var/mta-stsd/control.sock";
}

std::string control_socket_path(const config::Config& config) {
  if (config.control_socket == "none") return "";
  if (config.control_socket.empty()) return default_control_socket_path();
  return config.control_socket;
}

// ----- protocol ------------------------------------------------------------------------

namespace {

bool is_blank(char c) { return c == ' ' || c == '\t'; }

std::string_view trim(std::string_view text) {
  while (!text.empty() && is_blank(text.front())) text.remove_prefix(1);
  while (!text.empty() && is_blank(text.back())) text.remove_suffix(1);
  return text;
}

// Echoed in error replies: short, so garbage does not come back at length,
// and quoted as a JSON string with everything but printable ASCII escaped, so
// control bytes show as what they are.
std::string quoted_short(std::string_view text) {
  constexpr std::size_t kMax = 64;
  std::string cut(text.substr(0, kMax));
  if (text.size() > kMax) cut += "...";
  return Json(cut).dump(-1, ' ', true, Json::error_handler_t::replace);
}

}  // namespace

ControlParse parse_control_request(std::string_view line) {
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  line = trim(line);
  if (line.empty()) return {std::nullopt, "empty request"};
  std::size_t end = 0;
  while (end < line.size() && !is_blank(line[end])) ++end;
  const std::string_view word = line.substr(0, end);
  const std::string_view argument = trim(line.substr(end));

  struct Known {
    std::string_view name;
    ControlRequest::Command command;
    bool takes_domain;
  };
  static constexpr std::array<Known, 9> kCommands{{
      {"list", ControlRequest::Command::list, false},
      {"show", ControlRequest::Command::show, true},
      {"purge", ControlRequest::Command::purge, true},
      {"prefetch", ControlRequest::Command::prefetch, true},
      {"stats", ControlRequest::Command::stats, false},
      {"alarms", ControlRequest::Command::alarms, false},
      {"reload", ControlRequest::Command::reload, false},
      {"export", ControlRequest::Command::export_, false},
      {"import", ControlRequest::Command::import_, false},
  }};
  for (const auto& known : kCommands) {
    if (word != known.name) continue;
    if (!known.takes_domain) {
      if (!argument.empty()) return {std::nullopt, fmt::format("{} takes no argument", word)};
      return {ControlRequest{known.command, {}}, {}};
    }
    if (argument.empty()) return {std::nullopt, fmt::format("usage: {} DOMAIN", word)};
    for (char c : argument) {
      if (is_blank(c)) return {std::nullopt, fmt::format("{} takes one domain", word)};
    }
    return {ControlRequest{known.command, std::string(argument)}, {}};
  }
  return {std::nullopt,
          fmt::format("unknown command {} (list, show DOMAIN, purge DOMAIN, prefetch DOMAIN, "
                      "stats, alarms, reload, export, import)",
                      quoted_short(word))};
}

std::string dump(const Json& value) {
  return value.dump(-1, ' ', false, Json::error_handler_t::replace);
}

Json policy_object(const cache::CachedPolicy& p, std::string_view source) {
  return Json{{"domain", p.domain},
              {"mode", sts::to_string(p.policy.mode)},
              {"id", p.txt_id},
              {"fetched", p.fetched_at},
              {"expires", p.expires_at},
              {"checked", p.checked_at},
              {"max_age", p.policy.max_age},
              {"mx", p.policy.mx},
              {"source", source}};
}

std::string policy_json(const cache::CachedPolicy& policy, std::string_view source) {
  return dump(policy_object(policy, source));
}

std::string error_json(std::string_view message) { return dump(Json{{"error", message}}); }

std::string purge_json(std::string_view domain, bool purged) {
  return dump(Json{{"domain", domain}, {"purged", purged}});
}

std::string prefetch_json(std::string_view domain, bool started, bool cached) {
  return dump(Json{{"domain", domain}, {"started", started}, {"cached", cached}});
}

std::vector<std::string> JsonArrayElements::feed(std::string_view piece) {
  std::vector<std::string> done;
  for (char c : piece) {
    const bool was_in_string = in_string_;
    if (in_string_) {
      if (escaped_) {
        escaped_ = false;
      } else if (c == '\\') {
        escaped_ = true;
      } else if (c == '"') {
        in_string_ = false;
      }
    } else if (c == '"') {
      in_string_ = true;
    }
    const bool structural = !was_in_string && c != '"';
    if (depth_ >= 3) {  // inside an element
      element_ += c;
      if (structural && (c == '{' || c == '[')) {
        ++depth_;
      } else if (structural && (c == '}' || c == ']')) {
        if (--depth_ == 2) done.push_back(std::exchange(element_, {}));
      }
      continue;
    }
    if (structural && depth_ == 2 && (c == '{' || c == '[')) {
      depth_ = 3;
      element_.assign(1, c);
    } else if (structural && depth_ == 2 && c == ',') {
      // the separator between two elements taken out
    } else if (structural && (c == '{' || c == '[')) {
      ++depth_;
      rest_ += c;
    } else if (structural && (c == '}' || c == ']')) {
      if (depth_ > 0) --depth_;
      rest_ += c;
    } else {
      rest_ += c;
    }
  }
  return done;
}

}  // namespace mtasts::control
