// mta-stsctl: the admin's tool. `query` asks a running mta-stsd like postmap does;
// `resolve` runs a fresh discovery and explains every step.
#include <netdb.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <boost/asio/io_context.hpp>
#include <cstdio>
#include <cstring>
#include <iostream>
#include <optional>
#include <spdlog/spdlog.h>

#include "config/config.hpp"
#include "daemon/daemon.hpp"
#include "resolver/discovery.hpp"
#include "socketmap/netstring.hpp"
#include "sts/answer.hpp"
#include "sts/query_key.hpp"
#include "util/json.hpp"

namespace {

using mtasts::util::json_escape;

// Exit codes follow postmap -q: 0 found, 1 not found, 2 and up errors.
constexpr int kFound = 0, kNotFound = 1, kError = 2;

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

int query(const std::string& host, const std::string& port, const std::string& socket_path,
          const std::string& name, const std::string& key, int timeout_s) {
  std::string error;
  int fd = connect_to(host, port, socket_path, timeout_s, error);
  if (fd < 0) {
    std::fprintf(stderr, "mta-stsctl: cannot connect to mta-stsd: %s\n", error.c_str());
    return kError;
  }
  const std::string request = mtasts::socketmap::encode_netstring(name + " " + key);
  if (::send(fd, request.data(), request.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(request.size())) {
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

int resolve(const mtasts::config::Config& config, const std::string& key,
            const std::string& zone_name, bool json) {
  auto parsed = mtasts::sts::parse_query_key(key);
  std::string answer{mtasts::sts::kNotFound};
  if (parsed.kind != mtasts::sts::QueryKey::Kind::domain) {
    const char* why = parsed.kind == mtasts::sts::QueryKey::Kind::parent_domain
                          ? "parent-domain key: never a parent's policy (RFC 8461 §3.4)"
                          : parsed.reason.c_str();
    if (json) {
      std::printf("{\"key\": %s, \"domain\": null, \"answer\": %s, \"reason\": %s, \"steps\": []}\n",
                  json_escape(key).c_str(), json_escape(answer).c_str(), json_escape(why).c_str());
    } else {
      std::printf("key      %s\nanswer   %s\nreason   %s\n", key.c_str(), answer.c_str(), why);
    }
    return kNotFound;
  }
  auto zones = mtasts::daemon::zones(config);
  const mtasts::resolver::Zone* zone = &zones[0];
  for (const auto& z : zones) {
    if (!zone_name.empty() && z.name == zone_name) zone = &z;
  }
  boost::asio::io_context io(1);
  std::optional<mtasts::resolver::DiscoveryResult> result;
  {
    mtasts::dns::Resolver dns(io, mtasts::daemon::resolver_options(config));
    mtasts::http::Fetcher https(io, mtasts::daemon::fetcher_options(config));
    mtasts::resolver::DiscoveryOptions options;
    options.fetch_timeout = mtasts::daemon::resolver_settings(config).fetch_timeout;
    mtasts::resolver::discover(dns, https, parsed.domain, {}, options,
                               [&](mtasts::resolver::DiscoveryResult r) { result = std::move(r); });
    io.run();
  }
  if (!result) {
    std::fprintf(stderr, "mta-stsctl: discovery did not complete\n");
    return kError;
  }
  if (result->policy) {
    answer = mtasts::sts::render_policy_answer(*result->policy, parsed.domain, zone->answer);
  }
  const auto outcome = mtasts::resolver::to_string(result->outcome);
  if (json) {
    std::string steps;
    for (const auto& step : result->steps) {
      if (!steps.empty()) steps += ", ";
      steps += "{\"step\": " + json_escape(step.name) + ", \"ok\": " + (step.ok ? "true" : "false") +
               ", \"detail\": " + json_escape(step.detail) + "}";
    }
    std::printf(
        "{\"key\": %s, \"domain\": %s, \"zone\": %s, \"outcome\": %s, \"txt_id\": %s, "
        "\"reason\": %s, \"answer\": %s, \"steps\": [%s]}\n",
        json_escape(key).c_str(), json_escape(parsed.domain).c_str(), json_escape(zone->name).c_str(),
        json_escape(outcome).c_str(), json_escape(result->txt_id).c_str(),
        json_escape(result->reason).c_str(), json_escape(answer).c_str(), steps.c_str());
  } else {
    std::printf("domain   %s\n", parsed.domain.c_str());
    for (const auto& step : result->steps) {
      std::printf("%-8s %s %s\n", step.name.c_str(), step.ok ? "ok  " : "FAIL", step.detail.c_str());
    }
    std::printf("outcome  %s: %s\nanswer   %s\n", std::string(outcome).c_str(),
                result->reason.c_str(), answer.c_str());
  }
  return answer.rfind("OK", 0) == 0 ? kFound : kNotFound;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"mta-stsctl: query and inspect mta-stsd"};
  app.require_subcommand(1);

  std::string host = "127.0.0.1", port = "8461", socket_path, name = "postfix", key;
  int timeout = 100;
  auto* q = app.add_subcommand("query", "ask a running mta-stsd, like postmap -q");
  q->add_option("key", key, "domain or next-hop as Postfix sends it")->required();
  q->add_option("--host", host, "daemon address (default 127.0.0.1)");
  q->add_option("--port", port, "daemon port (default 8461)");
  q->add_option("--socket", socket_path, "daemon UNIX socket instead of TCP");
  q->add_option("--name", name, "socketmap name, i.e. the zone (default postfix)");
  q->add_option("--timeout", timeout, "seconds to wait (default 100, as Postfix)");

  std::string config_file, zone_name;
  bool json = false;
  auto* r = app.add_subcommand("resolve", "fresh MTA-STS discovery, explained step by step");
  r->add_option("key", key, "domain or next-hop")->required();
  r->add_option("-c,--config", config_file, "mta-stsd configuration (resolver, CA, zones)");
  r->add_option("--zone", zone_name, "render the answer for this zone");
  r->add_flag("--json", json, "machine-readable output");
  CLI11_PARSE(app, argc, argv);

  if (q->parsed()) return query(host, port, socket_path, name, key, timeout);

  mtasts::config::LoadResult loaded;
  try {
    loaded = config_file.empty() ? mtasts::config::load_config_text(
                                       mtasts::config::default_config_yaml(), "<embedded>")
                                 : mtasts::config::load_config_file(config_file);
  } catch (const mtasts::config::ConfigError& e) {
    std::fprintf(stderr, "mta-stsctl: configuration error: %s\n", e.what());
    return kError;
  }
  spdlog::set_level(spdlog::level::warn);
  return resolve(loaded.config, key, zone_name, json);
}
