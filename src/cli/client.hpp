#pragma once
// The tool's ends of its two channels: a socket to the daemon (socketmap or
// control), and the control client that sends request lines and reads JSON
// replies, with the helpers that print them.
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstring>
#include <optional>
#include <string>
#include <vector>

#include "cli/commands.hpp"
#include "control/protocol.hpp"

namespace mtasts::cli {

// A parsed reply, its fields in the daemon's order (stats prints them so).
using Tree = control::Json;

// A connected stream socket (UNIX when socket_path is set, else TCP host:port)
// with send and receive timeouts; -1 and error on failure.
int connect_to(const std::string& host, const std::string& port, const std::string& socket_path,
               int timeout_s, std::string& error);

// Where the daemon's control socket is: --control, else the configuration's
// control_socket, else the daemon's default rule.
std::optional<std::string> control_path(const ControlTarget& target);

class ControlClient {
 public:
  ~ControlClient() {
    if (fd_ >= 0) ::close(fd_);
  }

  bool connect(const std::string& path, int timeout_s) {
    std::string error;
    fd_ = connect_to({}, {}, path, timeout_s, error);
    if (fd_ < 0) {
      std::fprintf(stderr, "mta-stsctl: cannot connect to the control socket %s\n", error.c_str());
      return false;
    }
    return true;
  }

  // Sends one request; false (reported) when the daemon is gone.
  bool send(const std::string& request) {
    const std::string line = request + "\n";
    if (::send(fd_, line.data(), line.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(line.size())) {
      std::fprintf(stderr, "mta-stsctl: send failed: %s\n", std::strerror(errno));
      return false;
    }
    return true;
  }

  // Sends bytes as they are (an import's payload), however many send() takes;
  // false (reported) when the daemon is gone or stops reading.
  bool send_raw(std::string_view bytes) {
    while (!bytes.empty()) {
      const ssize_t n = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
      if (n <= 0) {
        std::fprintf(stderr, "mta-stsctl: send failed: %s\n",
                     n == 0 ? "nothing sent" : std::strerror(errno));
        return false;
      }
      bytes.remove_prefix(static_cast<std::size_t>(n));
    }
    return true;
  }

  // Hands the reply to sink in pieces, up to and including its newline.
  bool read_reply(const std::function<void(std::string_view)>& sink) {
    for (;;) {
      const auto newline = buffer_.find('\n');
      if (newline != std::string::npos) {
        sink(std::string_view(buffer_).substr(0, newline + 1));
        buffer_.erase(0, newline + 1);
        return true;
      }
      if (!buffer_.empty()) {
        sink(buffer_);
        buffer_.clear();
      }
      char chunk[65536];
      const ssize_t n = ::recv(fd_, chunk, sizeof chunk, 0);
      if (n <= 0) {
        std::fprintf(stderr, "mta-stsctl: no reply from mta-stsd: %s\n",
                     n == 0 ? "connection closed" : std::strerror(errno));
        return false;
      }
      buffer_.append(chunk, static_cast<std::size_t>(n));
    }
  }

  // A whole (small) reply, parsed; nullopt (reported) on failure.
  std::optional<Tree> request(const std::string& line) {
    constexpr std::size_t kMaxReply = 16 * 1024 * 1024;
    std::string reply;
    bool too_long = false;
    if (!send(line) || !read_reply([&](std::string_view piece) {
          if (reply.size() + piece.size() > kMaxReply) too_long = true;
          if (!too_long) reply += piece;
        })) {
      return std::nullopt;
    }
    if (too_long) {
      std::fprintf(stderr, "mta-stsctl: reply to %s longer than %zu bytes\n", line.c_str(),
                   kMaxReply);
      return std::nullopt;
    }
    last_raw_ = reply;
    return parse(reply);
  }

  const std::string& last_raw() const { return last_raw_; }

  static std::optional<Tree> parse(std::string_view text) {
    try {
      return Tree::parse(text);
    } catch (const Tree::exception& e) {
      std::fprintf(stderr, "mta-stsctl: malformed reply: %s\n", e.what());
      return std::nullopt;
    }
  }

 private:
  int fd_ = -1;
  std::string buffer_;
  std::string last_raw_;
};

std::string iso_utc(std::int64_t unix_seconds);
// A reply's fields, read leniently: a missing field or one of another type
// gives the fallback (0, false, empty), as an older daemon's reply may lack one.
std::int64_t number(const Tree& tree, const char* key);
bool flag(const Tree& tree, const char* key);
std::string text(const Tree& tree, const char* key, const std::string& fallback = {});
// A string field, or nullopt when absent (an {"error": ...} reply's message).
std::optional<std::string> optional_text(const Tree& tree, const char* key);
// The field as printed: a string's text, anything else as JSON.
std::string shown(const Tree& value);
// An object or array field; nullptr when absent or of another type.
const Tree* child(const Tree& tree, const char* key);
std::vector<std::string> strings(const Tree& tree, const char* key);
std::string joined(const std::vector<std::string>& items, const char* separator);
// Prints the daemon's {"error": ...} reply; true when it was one.
bool reported_error(const Tree& reply);

}  // namespace mtasts::cli
