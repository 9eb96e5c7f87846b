#pragma once
// systemd socket activation: the listening sockets mta-stsd.socket (or
// systemd-socket-activate) passes in LISTEN_FDS, used instead of binding.
#include <string>
#include <vector>

namespace mtasts::daemon {

struct InheritedSocket {
  int fd = -1;
  std::string name;  // FileDescriptorName= (systemd's default: the socket unit's name)
};

// The sockets passed to this process, in order; empty when started without
// socket activation. Unsets LISTEN_* so children (none today) do not take them.
std::vector<InheritedSocket> inherited_sockets();

}  // namespace mtasts::daemon
