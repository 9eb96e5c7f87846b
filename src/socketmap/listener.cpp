#include "socketmap/listener.hpp"

#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstddef>
#include <cstring>
#include <stdexcept>
#include <system_error>

#include <fmt/core.h>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ip/v6_only.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/socket_base.hpp>

namespace mtasts::socketmap {

namespace asio = boost::asio;
using boost::system::error_code;

namespace {

[[noreturn]] void fail(std::string_view address, std::string_view reason) {
  throw std::runtime_error(fmt::format("cannot listen on {}: {}", address, reason));
}

void check(const error_code& ec, std::string_view address) {
  if (ec) {
    fail(address, ec.message());
  }
}

std::optional<asio::ip::tcp::endpoint> to_ip(const Endpoint& endpoint) {
  asio::ip::tcp::endpoint ip;
  const auto family = endpoint.data()->sa_family;
  if ((family != AF_INET && family != AF_INET6) || endpoint.size() > ip.capacity()) {
    return std::nullopt;
  }
  std::memcpy(ip.data(), endpoint.data(), endpoint.size());
  ip.resize(endpoint.size());
  return ip;
}

std::string describe_ip(const asio::ip::tcp::endpoint& endpoint) {
  const auto address = endpoint.address();
  if (address.is_v6()) {
    return fmt::format("[{}]:{}", address.to_string(), endpoint.port());
  }
  return fmt::format("{}:{}", address.to_string(), endpoint.port());
}

BoundAcceptor bind_tcp(asio::io_context& io, const asio::ip::tcp::endpoint& endpoint,
                       bool reuse_port) {
  const std::string name = describe_ip(endpoint);
  const Endpoint generic(endpoint);
  Acceptor acceptor(io);
  error_code ec;
  acceptor.open(generic.protocol(), ec);
  check(ec, name);
  if (endpoint.address().is_v6()) {
    // Without v6_only "::" would also take the IPv4 port and a second "0.0.0.0"
    // listener would fail with "address in use".
    acceptor.set_option(asio::ip::v6_only(true), ec);
    check(ec, name);
  }
  acceptor.set_option(asio::socket_base::reuse_address(true), ec);
  check(ec, name);
  if (reuse_port) {
    // Lets a restarted daemon bind while the old one still drains its connections.
    const int on = 1;
    if (::setsockopt(acceptor.native_handle(), SOL_SOCKET, SO_REUSEPORT, &on, sizeof on) != 0) {
      fail(name, std::strerror(errno));
    }
  }
  acceptor.bind(generic, ec);
  check(ec, name);
  acceptor.listen(asio::socket_base::max_listen_connections, ec);
  check(ec, name);
  const auto local = acceptor.local_endpoint(ec);
  check(ec, name);
  return BoundAcceptor{std::move(acceptor), describe(local), std::nullopt};
}

}  // namespace

std::vector<BoundAcceptor> listen_tcp(asio::io_context& io, const std::string& host,
                                      std::uint16_t port, bool reuse_port) {
  asio::ip::tcp::resolver resolver(io);
  error_code ec;
  const auto results = resolver.resolve(
      host, std::to_string(port),
      asio::ip::tcp::resolver::passive | asio::ip::tcp::resolver::numeric_service, ec);
  if (ec) {
    fail(host, fmt::format("cannot resolve: {}", ec.message()));
  }
  std::vector<asio::ip::tcp::endpoint> endpoints;
  for (const auto& entry : results) {
    if (std::find(endpoints.begin(), endpoints.end(), entry.endpoint()) == endpoints.end()) {
      endpoints.push_back(entry.endpoint());
    }
  }
  if (endpoints.empty()) {
    fail(host, "name has no addresses");
  }
  std::vector<BoundAcceptor> bound;
  std::uint16_t chosen_port = port;
  for (auto endpoint : endpoints) {
    // One ephemeral port for every address, so "localhost:0" is one service.
    endpoint.port(chosen_port);
    bound.push_back(bind_tcp(io, endpoint, reuse_port));
    if (chosen_port == 0) {
      error_code local_ec;
      const auto local = bound.back().acceptor.local_endpoint(local_ec);
      check(local_ec, bound.back().name);
      if (const auto ip = to_ip(local)) {
        chosen_port = ip->port();
      }
    }
  }
  return bound;
}

BoundAcceptor listen_unix(asio::io_context& io, const std::string& path,
                          const UnixSocketAccess& access) {
  if (path.empty() || path.size() >= sizeof(sockaddr_un::sun_path)) {
    fail(path, "UNIX socket path is empty or too long");
  }
  struct stat st {};
  if (::lstat(path.c_str(), &st) == 0) {
    if (!S_ISSOCK(st.st_mode)) {
      fail(path, "the path exists and is not a socket");
    }
    // A socket file left by a crashed instance is replaced; one that still accepts
    // connections belongs to a running server and is left alone.
    asio::local::stream_protocol::socket probe(io);
    error_code probe_ec;
    probe.connect(asio::local::stream_protocol::endpoint(path), probe_ec);
    if (!probe_ec) {
      fail(path, "another server is accepting on this socket");
    }
    if (::unlink(path.c_str()) != 0 && errno != ENOENT) {
      fail(path, fmt::format("cannot remove stale socket: {}", std::strerror(errno)));
    }
  }
  const Endpoint generic{asio::local::stream_protocol::endpoint(path)};
  Acceptor acceptor(io);
  error_code ec;
  acceptor.open(generic.protocol(), ec);
  check(ec, path);
  acceptor.bind(generic, ec);
  check(ec, path);
  // Before listen(), so no client connects while the umask's mode or the
  // wrong group is in force. chown first: it may clear set-id bits of a mode.
  const bool change_owner =
      access.owner != static_cast<uid_t>(-1) || access.group != static_cast<gid_t>(-1);
  if ((change_owner && ::chown(path.c_str(), access.owner, access.group) != 0) ||
      ::chmod(path.c_str(), static_cast<mode_t>(access.mode & 07777)) != 0 ||
      ::stat(path.c_str(), &st) != 0) {
    const std::string reason = std::strerror(errno);
    ::unlink(path.c_str());
    fail(path, reason);
  }
  acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    ::unlink(path.c_str());
    check(ec, path);
  }
  return BoundAcceptor{std::move(acceptor), path, UnixSocketFile{path, st.st_dev, st.st_ino}};
}

BoundAcceptor adopt_listener(asio::io_context& io, int fd) {
  const std::string name = fmt::format("inherited socket {}", fd);
  sockaddr_storage address{};
  socklen_t length = sizeof address;
  int type = 0;
  int listening = 0;
  socklen_t option_length = sizeof type;
  if (::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) != 0 ||
      ::getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &option_length) != 0) {
    fail(name, std::strerror(errno));
  }
  option_length = sizeof listening;
  if (::getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &option_length) != 0) {
    fail(name, std::strerror(errno));
  }
  const int family = address.ss_family;
  if (type != SOCK_STREAM || listening == 0 ||
      (family != AF_INET && family != AF_INET6 && family != AF_UNIX)) {
    // A datagram socket or one without Accept=no (a connection, not a listener)
    // would make every accept fail; better to refuse to start.
    fail(name, "not a listening TCP or UNIX stream socket (ListenStream= with Accept=no)");
  }
  // Non-blocking like the sockets Asio opens itself.
  const int flags = ::fcntl(fd, F_GETFL);
  if (flags < 0 || ::fcntl(fd, F_SETFL, flags | O_NONBLOCK) != 0 ||
      ::fcntl(fd, F_SETFD, FD_CLOEXEC) != 0) {
    fail(name, std::strerror(errno));
  }
  Acceptor acceptor(io);
  error_code ec;
  acceptor.assign(asio::generic::stream_protocol(family, family == AF_UNIX ? 0 : IPPROTO_TCP), fd,
                  ec);
  check(ec, name);
  const auto local = acceptor.local_endpoint(ec);
  check(ec, name);
  return BoundAcceptor{std::move(acceptor), describe(local), std::nullopt};
}

void remove_socket_file(const UnixSocketFile& file) {
  struct stat st {};
  if (::lstat(file.path.c_str(), &st) == 0 && S_ISSOCK(st.st_mode) && st.st_dev == file.device &&
      st.st_ino == file.inode) {
    ::unlink(file.path.c_str());
  }
}

std::string describe(const Endpoint& endpoint) {
  const auto* address = endpoint.data();
  const std::size_t size = endpoint.size();
  if (size < sizeof(sa_family_t)) {
    return "unknown";
  }
  switch (address->sa_family) {
    case AF_INET:
    case AF_INET6: {
      const auto ip = to_ip(endpoint);
      return ip ? describe_ip(*ip) : "unknown";
    }
    case AF_UNIX: {
      const auto* un = reinterpret_cast<const sockaddr_un*>(address);
      const std::size_t offset = offsetof(sockaddr_un, sun_path);
      if (size <= offset || un->sun_path[0] == '\0') {
        return "unix";  // unnamed (every client of a path socket) or abstract
      }
      const std::size_t length = std::min(size - offset, sizeof un->sun_path);
      return std::string(un->sun_path, ::strnlen(un->sun_path, length));
    }
    default:
      return "unknown";
  }
}

}  // namespace mtasts::socketmap
