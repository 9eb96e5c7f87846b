#pragma once
// Opening the listening sockets the socketmap server accepts on. The accepting
// itself lives in the server; these only bind, so their failures name the address.
#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <boost/asio/basic_socket_acceptor.hpp>
#include <boost/asio/generic/stream_protocol.hpp>
#include <boost/asio/io_context.hpp>

namespace mtasts::socketmap {

// One protocol-independent socket type serves TCP (v4 and v6) and UNIX clients.
using Endpoint = boost::asio::generic::stream_protocol::endpoint;
using Socket = boost::asio::generic::stream_protocol::socket;
using Acceptor = boost::asio::basic_socket_acceptor<boost::asio::generic::stream_protocol>;

// The socket file we created, so shutdown removes only ours and not one a newer
// instance has bound at the same path since.
struct UnixSocketFile {
  std::string path;
  dev_t device = 0;
  ino_t inode = 0;
};

struct BoundAcceptor {
  Acceptor acceptor;
  std::string name;  // "127.0.0.1:8461", "[::1]:8461" or the UNIX path
  std::optional<UnixSocketFile> file;
};

// Resolves host and binds every address it names (IPv6 ones v6-only so an IPv4
// wildcard can coexist). With port 0 the first bind picks the port and the others
// reuse it. Throws std::runtime_error naming the address and the errno text.
std::vector<BoundAcceptor> listen_tcp(boost::asio::io_context& io, const std::string& host,
                                      std::uint16_t port, bool reuse_port);

// Who owns a UNIX socket file we create: uid/gid -1 leave the daemon's own.
// Postfix's chrooted smtp(8) runs as postfix, so an admin gives it the socket
// by group rather than by a world-writable mode.
struct UnixSocketAccess {
  unsigned mode = 0666;
  uid_t owner = static_cast<uid_t>(-1);
  gid_t group = static_cast<gid_t>(-1);
};

// Replaces a stale socket file at path (but nothing else), binds, and sets the
// owner, group and mode before listening.
BoundAcceptor listen_unix(boost::asio::io_context& io, const std::string& path,
                          const UnixSocketAccess& access);
inline BoundAcceptor listen_unix(boost::asio::io_context& io, const std::string& path,
                                 unsigned mode) {
  return listen_unix(io, path, UnixSocketAccess{mode});
}

// A listening stream socket handed over already bound (systemd socket
// activation). The file of a UNIX one belongs to whoever created it, so it is
// never removed. Throws std::runtime_error if fd is not a listening stream socket.
BoundAcceptor adopt_listener(boost::asio::io_context& io, int fd);

// Unlinks the socket file if it is still the one we bound.
void remove_socket_file(const UnixSocketFile& file);

// "1.2.3.4:25", "[::1]:25", the UNIX path, or "unix" for an unnamed UNIX peer.
std::string describe(const Endpoint& endpoint);

}  // namespace mtasts::socketmap
