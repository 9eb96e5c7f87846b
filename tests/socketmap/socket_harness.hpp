#pragma once
// Test helpers for the socketmap server: a raw non-blocking client socket and
// bounded io_context pumping, all on one thread (no sleeps, no client threads).
#include <fcntl.h>
#include <netdb.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <boost/asio/io_context.hpp>

#include "socketmap/netstring.hpp"
#include "socketmap/server.hpp"

namespace mtasts::socketmap::test {

using namespace std::chrono_literals;

// Runs io until pred() holds or timeout passes; returns pred().
inline bool run_until(boost::asio::io_context& io, const std::function<bool()>& pred,
                      std::chrono::milliseconds timeout = 3000ms) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!pred()) {
    if (std::chrono::steady_clock::now() >= deadline) {
      return pred();
    }
    io.restart();
    io.run_one_for(2ms);  // back to pred() after every handler
  }
  return true;
}

// Runs io for a while regardless (to show that something does not happen);
// returns how many handlers ran.
inline std::size_t run_for(boost::asio::io_context& io, std::chrono::milliseconds span) {
  const auto deadline = std::chrono::steady_clock::now() + span;
  std::size_t handlers = 0;
  while (std::chrono::steady_clock::now() < deadline) {
    io.restart();
    handlers += io.run_for(2ms);
  }
  return handlers;
}

// Sends everything on a non-blocking socket, pumping io while it is full;
// false once the peer is gone.
inline bool send_all(boost::asio::io_context& io, int fd, std::string_view bytes) {
  while (!bytes.empty()) {
    const ssize_t n = ::send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL);
    if (n > 0) {
      bytes.remove_prefix(static_cast<std::size_t>(n));
    } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      io.restart();
      io.run_for(2ms);
    } else {
      return false;
    }
  }
  return true;
}

// Splits "127.0.0.1:8461" / "[::1]:8461" into host and port.
inline std::pair<std::string, std::string> split_endpoint(const std::string& endpoint) {
  const auto colon = endpoint.rfind(':');
  std::string host = endpoint.substr(0, colon);
  if (!host.empty() && host.front() == '[') {
    host = host.substr(1, host.size() - 2);
  }
  return {host, endpoint.substr(colon + 1)};
}

class Client {
 public:
  // endpoint: "host:port", "[v6]:port", or a UNIX path (starts with '/').
  // Connect succeeds (the kernel completes it from the backlog) before the server
  // accepts, so this needs no io pumping. fd() < 0 when the connect failed.
  explicit Client(const std::string& endpoint, int receive_buffer = 0) {
    if (!endpoint.empty() && endpoint.front() == '/') {
      fd_ = ::socket(AF_UNIX, SOCK_STREAM, 0);
      sockaddr_un address{};
      address.sun_family = AF_UNIX;
      std::strncpy(address.sun_path, endpoint.c_str(), sizeof address.sun_path - 1);
      if (::connect(fd_, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) {
        connect_errno_ = errno;
        reset();
      }
    } else {
      const auto [host, port] = split_endpoint(endpoint);
      addrinfo hints{};
      hints.ai_socktype = SOCK_STREAM;
      hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV;
      addrinfo* result = nullptr;
      if (::getaddrinfo(host.c_str(), port.c_str(), &hints, &result) != 0) {
        return;
      }
      fd_ = ::socket(result->ai_family, SOCK_STREAM, 0);
      if (receive_buffer > 0) {
        ::setsockopt(fd_, SOL_SOCKET, SO_RCVBUF, &receive_buffer, sizeof receive_buffer);
      }
      if (::connect(fd_, result->ai_addr, result->ai_addrlen) != 0) {
        connect_errno_ = errno;
        reset();
      }
      ::freeaddrinfo(result);
    }
    if (fd_ >= 0) {
      ::fcntl(fd_, F_SETFL, ::fcntl(fd_, F_GETFL) | O_NONBLOCK);
    }
  }
  ~Client() { reset(); }
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  int fd() const { return fd_; }
  int connect_errno() const { return connect_errno_; }
  void reset() {
    if (fd_ >= 0) {
      ::close(fd_);
      fd_ = -1;
    }
  }
  void shutdown_write() { ::shutdown(fd_, SHUT_WR); }
  // Closes with a reset instead of an orderly FIN: the server cannot mistake it
  // for a client that merely finished sending.
  void abort() {
    const linger option{1, 0};
    ::setsockopt(fd_, SOL_SOCKET, SO_LINGER, &option, sizeof option);
    reset();
  }

  // Sends everything, pumping io while the socket is full.
  bool send(boost::asio::io_context& io, std::string_view bytes) {
    return send_all(io, fd_, bytes);
  }
  bool send_request(boost::asio::io_context& io, std::string_view payload) {
    return send(io, encode_netstring(payload));
  }

  // The next reply payload, pumping io until it arrives; nullopt on EOF or timeout.
  std::optional<std::string> reply(boost::asio::io_context& io,
                                   std::chrono::milliseconds timeout = 3000ms) {
    std::optional<std::string> got;
    run_until(
        io,
        [&] {
          if (auto payload = reader_.next()) {
            got = std::string(*payload);
            return true;
          }
          const bool open = receive();
          if (auto payload = reader_.next()) {
            got = std::string(*payload);
            return true;
          }
          return !open;
        },
        timeout);
    return got;
  }

  // True once the server has closed the connection (EOF or reset), pumping io.
  bool closed_by_server(boost::asio::io_context& io, std::chrono::milliseconds timeout = 3000ms) {
    return run_until(
        io, [&] { return !receive(); }, timeout);
  }

  // Reads what is available; false once the peer closed (or reset) the connection.
  bool receive() {
    if (eof_) {
      return false;
    }
    char buffer[65536];
    for (;;) {
      const ssize_t n = ::recv(fd_, buffer, sizeof buffer, 0);
      if (n > 0) {
        received_bytes_ += static_cast<std::size_t>(n);
        reader_.append(std::string_view(buffer, static_cast<std::size_t>(n)));
        continue;
      }
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
        return true;
      }
      reset_seen_ = n < 0;
      eof_ = true;
      return false;
    }
  }
  bool reset_seen() const { return reset_seen_; }
  std::size_t received_bytes() const { return received_bytes_; }

 private:
  int fd_ = -1;
  int connect_errno_ = 0;
  bool eof_ = false;
  bool reset_seen_ = false;
  std::size_t received_bytes_ = 0;
  NetstringReader reader_{1 << 24};
};

// Answers "OK name/key" at once, or holds the callbacks for the test to complete.
class TestHandler : public RequestHandler {
 public:
  struct Held {
    std::string key;
    ReplyCallback done;
  };

  void handle(std::string_view name, std::string_view key, ReplyCallback done) override {
    ++calls;
    if (key == "throw") {
      throw std::runtime_error("handler failure");
    }
    if (hold) {
      held.push_back(Held{std::string(key), std::move(done)});
      return;
    }
    if (reply_size > 0) {
      done(std::string(reply_size, 'r'));
      return;
    }
    std::string reply = "OK ";
    reply.append(name);
    reply += '/';
    reply.append(key);
    done(reply);
  }

  bool hold = false;
  std::size_t reply_size = 0;  // > 0: answer with this many bytes
  std::size_t calls = 0;
  std::vector<Held> held;
};

inline ServerOptions tcp_options() {
  ServerOptions options;
  options.host = "127.0.0.1";
  options.port = 0;
  return options;
}

}  // namespace mtasts::socketmap::test
