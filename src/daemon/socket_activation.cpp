#include "daemon/socket_activation.hpp"

#include <systemd/sd-daemon.h>

#include <cstdlib>
#include <cstring>

#include <spdlog/spdlog.h>

namespace mtasts::daemon {

std::vector<InheritedSocket> inherited_sockets() {
  char** names = nullptr;
  // sd_listen_fds checks LISTEN_PID, so sockets meant for a parent are ignored.
  const int count = sd_listen_fds_with_names(1, &names);
  if (count < 0) {
    // A malformed LISTEN_FDS: bind as configured rather than guess at descriptors.
    spdlog::warn("socket activation: cannot read LISTEN_FDS: {}", std::strerror(-count));
  }
  std::vector<InheritedSocket> sockets;
  for (int i = 0; i < count; ++i) {
    InheritedSocket socket;
    socket.fd = SD_LISTEN_FDS_START + i;
    if (names != nullptr && names[i] != nullptr) socket.name = names[i];
    sockets.push_back(std::move(socket));
  }
  if (names != nullptr) {
    for (int i = 0; names[i] != nullptr; ++i) std::free(names[i]);
    std::free(names);
  }
  return sockets;
}

}  // namespace mtasts::daemon
