#include "cli/client.hpp"
#include "cli/commands.hpp"

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

#include "socketmap/netstring.hpp"

namespace mtasts::cli {

int query(const std::string& host, const std::string& port, const std::string& socket_path,
          const std::string& name, const std::string& key, int timeout_s) {
  std::string error;
  int fd = connect_to(host, port, socket_path, timeout_s, error);
  if (fd < 0) {
    std::fprintf(stderr, "mta-stsctl: cannot connect to mta-stsd: %s\n", error.c_str());
    return kError;
  }
  const std::string request = mtasts::socketmap::encode_netstring(name + " " + key);
  if (::send(fd, request.data(), request.size(), MSG_NOSIGNAL) !=
      static_cast<ssize_t>(request.size())) {
    std::fprintf(stderr, "mta-stsctl: send failed: %s\n", std::strerror(errno));
    ::close(fd);
    return kError;
  }
  mtasts::socketmap::NetstringReader reader(100000);  // Postfix's reply limit
  char buffer[4096];
  std::optional<std::string> reply;
  while (!reply) {
    ssize_t n = ::recv(fd, buffer, sizeof buffer, 0);
    if (n <= 0) {
      std::fprintf(stderr, "mta-stsctl: no reply from mta-stsd: %s\n",
                   n == 0 ? "connection closed" : std::strerror(errno));
      ::close(fd);
      return kError;
    }
    reader.append(std::string_view(buffer, static_cast<std::size_t>(n)));
    if (auto payload = reader.next()) reply = std::string(*payload);
    if (reader.error() != mtasts::socketmap::NetstringError::none) {
      std::fprintf(stderr, "mta-stsctl: malformed reply: %s\n",
                   std::string(to_string(reader.error())).c_str());
      ::close(fd);
      return kError;
    }
  }
  ::close(fd);
  std::printf("%s\n", reply->c_str());
  if (reply->rfind("OK", 0) == 0) return kFound;
  if (reply->rfind("NOTFOUND", 0) == 0) return kNotFound;
  return kError + 1;
}

}  // namespace mtasts::cli
