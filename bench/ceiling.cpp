// mtasts-ceiling: the fastest socketmap server this machine can run, as the
// benchmark's yardstick. One thread, epoll, non-blocking sockets; every complete
// netstring request gets the same netstring reply. Pipelined requests and partial
// reads are handled; a malformed request closes the connection.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>
#include <unordered_map>

#include "netstring_codec.hpp"

namespace {

using mtasts::bench::FrameStatus;

// Generous: Postfix sends at most 10 000 bytes of key (socketmap_max_query_size,
// socketmap_table(5)); anything longer is not a Postfix request.
constexpr std::size_t kMaxRequest = 100000;

struct Connection {
  std::string in;
  std::string out;
  bool writing = false;  // registered for EPOLLOUT instead of EPOLLIN
};

int usage() {
  std::fprintf(stderr, "usage: mtasts-ceiling [--host ADDR] --port P (0 = any) --reply PAYLOAD\n");
  return 2;
}

// Reads once (level-triggered epoll calls again if more is waiting), answers
// every complete request, then writes. Returns false when the connection ends.
bool serve(int fd, Connection& c, const std::string& reply) {
  if (c.out.empty()) {
    char buf[16384];
    const ssize_t n = ::read(fd, buf, sizeof buf);
    if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) return false;
    if (n > 0) c.in.append(buf, static_cast<std::size_t>(n));
    std::size_t used = 0;
    for (;;) {
      const auto frame =
          mtasts::bench::parse_netstring(std::string_view(c.in).substr(used), kMaxRequest);
      if (frame.status == FrameStatus::malformed) return false;
      if (frame.status == FrameStatus::incomplete) break;
      used += frame.consumed;
      c.out += reply;
    }
    c.in.erase(0, used);
  }
  while (!c.out.empty()) {
    const ssize_t n = ::send(fd, c.out.data(), c.out.size(), MSG_NOSIGNAL);
    if (n < 0) return errno == EAGAIN || errno == EINTR;
    c.out.erase(0, static_cast<std::size_t>(n));
  }
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  std::string host = "127.0.0.1";
  long port = -1;
  std::string payload;
  bool have_reply = false;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string_view opt = argv[i];
    if (opt == "--host") {
      host = argv[i + 1];
    } else if (opt == "--port") {
      port = std::strtol(argv[i + 1], nullptr, 10);
    } else if (opt == "--reply") {
      payload = argv[i + 1];
      have_reply = true;
    } else {
      return usage();
    }
  }
  if (argc % 2 == 0 || port < 0 || port > 65535 || !have_reply) return usage();
  const std::string reply = mtasts::bench::encode_netstring(payload);

  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  const int lfd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
  const int one = 1;
  ::setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  socklen_t len = sizeof addr;
  if (::inet_pton(AF_INET, host.c_str(), &addr.sin_addr) != 1 ||
      ::bind(lfd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      ::listen(lfd, 4096) != 0 ||
      ::getsockname(lfd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    std::fprintf(stderr, "mtasts-ceiling: cannot listen on %s:%ld: %s\n", host.c_str(), port,
                 std::strerror(errno));
    return 1;
  }
  // The actual port (for --port 0) on stdout, so scripts can connect.
  std::printf("listening %s:%u\n", host.c_str(), ntohs(addr.sin_port));
  std::fflush(stdout);

  const int ep = ::epoll_create1(0);
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.fd = lfd;
  ::epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &ev);
  std::unordered_map<int, Connection> connections;
  epoll_event events[256];
  for (;;) {
    const int n = ::epoll_wait(ep, events, 256, -1);
    for (int i = 0; i < n; ++i) {
      const int fd = events[i].data.fd;
      if (fd == lfd) {
        for (int c; (c = ::accept4(lfd, nullptr, nullptr, SOCK_NONBLOCK)) >= 0;) {
          ::setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
          ev.events = EPOLLIN;
          ev.data.fd = c;
          ::epoll_ctl(ep, EPOLL_CTL_ADD, c, &ev);
          connections[c];
        }
        continue;
      }
      auto& conn = connections[fd];
      if (!serve(fd, conn, reply)) {
        ::close(fd);  // also removes it from the epoll set
        connections.erase(fd);
        continue;
      }
      // While a reply is pending, stop reading: a client that pipelines faster
      // than it reads cannot grow our buffers. epoll_ctl only on a change.
      if (conn.writing != !conn.out.empty()) {
        conn.writing = !conn.out.empty();
        ev.events = conn.writing ? EPOLLOUT : EPOLLIN;
        ev.data.fd = fd;
        ::epoll_ctl(ep, EPOLL_CTL_MOD, fd, &ev);
      }
    }
  }
}
