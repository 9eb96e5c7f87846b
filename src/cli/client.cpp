#include "cli/client.hpp"

#include <netdb.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <spdlog/spdlog.h>
#include <algorithm>
#include <boost/asio/io_context.hpp>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <fstream>
#include <iostream>
#include <map>
#include <optional>
#include <set>
#include <sstream>
#include <thread>
#include <vector>

namespace mtasts::cli {

int connect_to(const std::string& host, const std::string& port, const std::string& socket_path,
               int timeout_s, std::string& error) {
  timeval tv{timeout_s, 0};
  if (!socket_path.empty()) {
    int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    if (socket_path.size() >= sizeof(addr.sun_path)) {
      error = "socket path too long";
      ::close(fd);
      return -1;
    }
    std::memcpy(addr.sun_path, socket_path.c_str(), socket_path.size() + 1);
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
      error = socket_path + ": " + std::strerror(errno);
      ::close(fd);
      return -1;
    }
    return fd;
  }
  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* list = nullptr;
  if (int rc = ::getaddrinfo(host.c_str(), port.c_str(), &hints, &list); rc != 0) {
    error = host + ": " + ::gai_strerror(rc);
    return -1;
  }
  int fd = -1;
  for (auto* ai = list; ai != nullptr; ai = ai->ai_next) {
    fd = ::socket(ai->ai_family, ai->ai_socktype, ai->ai_protocol);
    if (fd < 0) continue;
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    if (::connect(fd, ai->ai_addr, ai->ai_addrlen) == 0) break;
    error = host + ":" + port + ": " + std::strerror(errno);
    ::close(fd);
    fd = -1;
  }
  ::freeaddrinfo(list);
  return fd;
}

// Where the daemon's control socket is: --control, else the configuration's
// control_socket, else the daemon's default rule. The daemon takes
// /run/mta-stsd when it may write there; an admin who may not (a dynamic
// user's directory) still finds the socket in it.
std::optional<std::string> control_path(const ControlTarget& target) {
  if (!target.path.empty()) return target.path;
  std::string configured;
  if (!target.config_file.empty()) {
    try {
      configured = mtasts::config::load_config_file(target.config_file).config.control_socket;
    } catch (const mtasts::config::ConfigError& e) {
      std::fprintf(stderr, "mta-stsctl: configuration error: %s\n", e.what());
      return std::nullopt;
    }
    if (configured == "none") {
      std::fprintf(stderr,
                   "mta-stsctl: %s: control_socket is none (the daemon has no control "
                   "socket)\n",
                   target.config_file.c_str());
      return std::nullopt;
    }
    if (!configured.empty()) return configured;
  }
  const char* runtime = ::getenv("RUNTIME_DIRECTORY");
  struct stat st {};
  if ((runtime == nullptr || *runtime == '\0') && ::stat("/run/mta-stsd/control.sock", &st) == 0) {
    return std::string("/run/mta-stsd/control.sock");
  }
  return mtasts::control::default_control_socket_path();
}

// One connection to the control socket; requests and replies are lines.

std::string iso_utc(std::int64_t unix_seconds) {
  const std::time_t t = static_cast<std::time_t>(unix_seconds);
  std::tm tm{};
  char text[32];
  if (::gmtime_r(&t, &tm) == nullptr ||
      std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0) {
    return std::to_string(unix_seconds);
  }
  return text;
}

std::int64_t number(const Tree& tree, const char* key) {
  const auto it = tree.find(key);
  if (it == tree.end() || !it->is_number()) return 0;
  return it->is_number_float() ? static_cast<std::int64_t>(it->get<double>())
                               : it->get<std::int64_t>();
}

bool flag(const Tree& tree, const char* key) {
  const auto it = tree.find(key);
  return it != tree.end() && it->is_boolean() && it->get<bool>();
}

std::string text(const Tree& tree, const char* key, const std::string& fallback) {
  const auto it = tree.find(key);
  if (it == tree.end() || !it->is_string()) return fallback;
  return it->get<std::string>();
}

std::optional<std::string> optional_text(const Tree& tree, const char* key) {
  const auto it = tree.find(key);
  if (it == tree.end()) return std::nullopt;
  return shown(*it);
}

std::string shown(const Tree& value) {
  return value.is_string() ? value.get<std::string>() : control::dump(value);
}

const Tree* child(const Tree& tree, const char* key) {
  const auto it = tree.find(key);
  if (it == tree.end() || !(it->is_object() || it->is_array())) return nullptr;
  return &*it;
}

std::vector<std::string> strings(const Tree& tree, const char* key) {
  std::vector<std::string> out;
  if (const Tree* list = child(tree, key)) {
    for (const auto& value : *list) out.push_back(shown(value));
  }
  return out;
}

std::string joined(const std::vector<std::string>& items, const char* separator) {
  std::string out;
  for (const auto& item : items) out += (out.empty() ? "" : separator) + item;
  return out;
}

// The daemon answered {"error": ...}: print it; true when it did.
bool reported_error(const Tree& reply) {
  if (!reply.is_object() || !reply.contains("error")) return false;
  std::fprintf(stderr, "mta-stsctl: %s\n", shown(reply["error"]).c_str());
  return true;
}

}  // namespace mtasts::cli
