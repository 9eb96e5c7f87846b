// mta-stsctl: the admin's tool. `query` asks a running mta-stsd like postmap does;
// `resolve` runs a fresh discovery and explains every step; list, show, purge,
// prefetch and stats talk to the daemon's control socket (control/protocol.hpp).
#include <netdb.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <sys/stat.h>

#include <spdlog/spdlog.h>
#include <CLI/CLI.hpp>
#include <algorithm>
#include <boost/asio/io_context.hpp>
#include <boost/property_tree/json_parser.hpp>
#include <boost/property_tree/ptree.hpp>
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

#include "config/config.hpp"
#include "control/protocol.hpp"
#include "resolver/answer.hpp"
#include "resolver/dane_discovery.hpp"
#include "resolver/discovery.hpp"
#include "resolver/network.hpp"
#include "setup/setup.hpp"
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

int resolve(const mtasts::config::Config& config, const std::string& key,
            const std::string& zone_name, bool json) {
  auto parsed = mtasts::sts::parse_query_key(key);
  std::string answer{mtasts::sts::kNotFound};
  if (parsed.kind != mtasts::sts::QueryKey::Kind::domain) {
    const char* why = parsed.kind == mtasts::sts::QueryKey::Kind::parent_domain
                          ? "parent-domain key: never a parent's policy (RFC 8461 §3.4)"
                          : parsed.reason.c_str();
    if (json) {
      std::printf(
          "{\"key\": %s, \"domain\": null, \"answer\": %s, \"reason\": %s, \"steps\": []}\n",
          json_escape(key).c_str(), json_escape(answer).c_str(), json_escape(why).c_str());
    } else {
      std::printf("key      %s\nanswer   %s\nreason   %s\n", key.c_str(), answer.c_str(), why);
    }
    return kNotFound;
  }
  auto zones = mtasts::setup::zones(config);
  const mtasts::resolver::Zone* zone = &zones[0];
  for (const auto& z : zones) {
    if (!zone_name.empty() && z.name == zone_name) zone = &z;
  }
  boost::asio::io_context io(1);
  std::optional<mtasts::resolver::DiscoveryResult> result;
  std::optional<mtasts::resolver::DaneDiscovery> dane;
  {
    mtasts::dns::Resolver resolver(io, mtasts::setup::resolver_options(config));
    mtasts::http::Fetcher fetcher(io, mtasts::setup::fetcher_options(config));
    mtasts::resolver::NetworkDns dns(resolver);
    mtasts::resolver::NetworkHttps https(fetcher);
    mtasts::resolver::DiscoveryOptions options;
    options.fetch_timeout = mtasts::setup::resolver_settings(config).fetch_timeout;
    mtasts::resolver::discover(dns, https, parsed.domain, {}, options,
                               [&](mtasts::resolver::DiscoveryResult r) { result = std::move(r); });
    // DANE first (RFC 8461 §2), looked up alongside as the daemon does.
    if (config.dane.enabled) {
      mtasts::resolver::discover_dane(
          dns, {parsed.domain, parsed.bracketed, parsed.port.value_or(25)},
          [&](mtasts::resolver::DaneDiscovery d) { dane = std::move(d); });
    }
    io.run();
  }
  if (!result) {
    std::fprintf(stderr, "mta-stsctl: discovery did not complete\n");
    return kError;
  }
  bool enforced = false;
  if (result->policy) {
    answer = mtasts::sts::render_policy_answer(*result->policy, parsed.domain, zone->answer);
    enforced = mtasts::resolver::sts_enforced(*result->policy, zone->answer);
  }
  if (dane) {
    // The daemon's own precedence (DANE first, RFC 8461 §2).
    std::optional<mtasts::dane::Level> level;
    if (dane->verdict != mtasts::dane::Verdict::temp) level = mtasts::dane::level_of(dane->verdict);
    const auto combined =
        mtasts::resolver::combine(level, mtasts::resolver::Answer::sts(enforced, answer),
                                  mtasts::setup::dane_on_failure(config));
    answer = std::string(combined.text());
  }
  const auto outcome = mtasts::resolver::to_string(result->outcome);
  // The DANE step: MX hosts, their DNSSEC status, TLSA records and usability.
  std::string dane_json = "null";
  std::string dane_text;
  if (dane) {
    const auto& e = dane->evidence;
    dane_json = fmt::format(
        "{{\"level\": {}, \"mx_secure\": {}, \"implicit_mx\": {}, "
        "\"null_mx\": {}, \"reason\": {}, \"hosts\": [",
        json_escape(mtasts::dane::to_string(dane->verdict)), e.mx_secure, e.implicit_mx, e.null_mx,
        json_escape(dane->reason));
    dane_text =
        fmt::format("dane:    {} (MX {}{}{}{})\n", mtasts::dane::to_string(dane->verdict),
                    e.mx_secure ? "secure" : "insecure", e.implicit_mx ? ", implicit" : "",
                    e.null_mx ? ", null MX" : "", dane->reason.empty() ? "" : "; " + dane->reason);
    for (std::size_t i = 0; i < e.hosts.size(); ++i) {
      const auto& h = e.hosts[i];
      std::string records;
      for (std::size_t j = 0; j < h.records.size(); ++j) {
        const auto text = mtasts::dane::to_text(h.records[j]);
        records += (j ? ", " : "") + json_escape(text);
      }
      dane_json +=
          fmt::format("{}{{\"host\": {}, \"tlsa\": {}, \"error\": {}, \"records\": [{}]}}",
                      i ? ", " : "", json_escape(h.host),
                      json_escape(mtasts::dane::to_string(h.state)), json_escape(h.error), records);
      using State = mtasts::dane::HostTlsa::State;
      const char* dnssec = h.state == State::insecure ? "insecure"
                           : h.state == State::failed ? "failed"
                                                      : "secure";
      dane_text +=
          fmt::format("  mx     {} {} {}{}\n", h.host, dnssec, mtasts::dane::to_string(h.state),
                      h.error.empty() ? "" : " (" + h.error + ")");
      for (const auto& r : h.records) {
        dane_text += fmt::format("         TLSA {} {}\n", mtasts::dane::to_text(r),
                                 mtasts::dane::usable(r) ? "usable" : "unusable");
      }
    }
    dane_json += "]}";
  }
  if (json) {
    std::string steps;
    for (const auto& step : result->steps) {
      if (!steps.empty()) steps += ", ";
      steps += "{\"step\": " + json_escape(step.name) +
               ", \"ok\": " + (step.ok ? "true" : "false") +
               ", \"detail\": " + json_escape(step.detail) + "}";
    }
    std::printf(
        "{\"key\": %s, \"domain\": %s, \"zone\": %s, \"outcome\": %s, \"txt_id\": %s, "
        "\"reason\": %s, \"answer\": %s, \"steps\": [%s], \"dane\": %s}\n",
        json_escape(key).c_str(), json_escape(parsed.domain).c_str(),
        json_escape(zone->name).c_str(), json_escape(outcome).c_str(),
        json_escape(result->txt_id).c_str(), json_escape(result->reason).c_str(),
        json_escape(answer).c_str(), steps.c_str(), dane_json.c_str());
  } else {
    std::printf("domain   %s\n", parsed.domain.c_str());
    for (const auto& step : result->steps) {
      std::printf("%-8s %s %s\n", step.name.c_str(), step.ok ? "ok  " : "FAIL",
                  step.detail.c_str());
    }
    std::printf("outcome  %s: %s\n%sanswer   %s\n", std::string(outcome).c_str(),
                result->reason.c_str(), dane_text.c_str(), answer.c_str());
  }
  return answer.rfind("OK", 0) == 0 ? kFound : kNotFound;
}

// ----- the control socket: list, show, purge, prefetch, stats --------------------------

using Tree = boost::property_tree::ptree;

struct ControlTarget {
  std::string path;         // --control
  std::string config_file;  // -c: read control_socket from it
  int timeout_s = 10;
};

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

  static std::optional<Tree> parse(const std::string& text) {
    Tree tree;
    std::istringstream in(text);
    try {
      boost::property_tree::read_json(in, tree);
    } catch (const boost::property_tree::json_parser_error& e) {
      std::fprintf(stderr, "mta-stsctl: malformed reply: %s\n", e.what());
      return std::nullopt;
    }
    return tree;
  }

 private:
  int fd_ = -1;
  std::string buffer_;
  std::string last_raw_;
};

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

std::int64_t number(const Tree& tree, const char* key) { return tree.get<std::int64_t>(key, 0); }

std::vector<std::string> strings(const Tree& tree, const char* key) {
  std::vector<std::string> out;
  if (const auto child = tree.get_child_optional(key)) {
    for (const auto& [name, value] : *child) out.push_back(value.data());
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
  if (const auto error = reply.get_optional<std::string>("error")) {
    std::fprintf(stderr, "mta-stsctl: %s\n", error->c_str());
    return true;
  }
  return false;
}

int list_policies(const ControlTarget& target, bool json) {
  const auto path = control_path(target);
  if (!path) return kError;
  ControlClient client;
  if (!client.connect(*path, target.timeout_s) || !client.send("list")) return kError;
  // The reply may hold a million policies: it is taken apart as it arrives.
  mtasts::control::JsonArrayElements splitter;
  struct Row {
    std::string domain, mode, id, fetched, expires, source;
  };
  std::vector<Row> rows;
  bool malformed = false;
  const bool read = client.read_reply([&](std::string_view piece) {
    if (json) std::fwrite(piece.data(), 1, piece.size(), stdout);
    for (const auto& element : splitter.feed(piece)) {
      if (json || malformed) continue;
      const auto tree = ControlClient::parse(element);
      if (!tree) {
        malformed = true;
        continue;
      }
      rows.push_back(Row{tree->get<std::string>("domain", ""), tree->get<std::string>("mode", ""),
                         tree->get<std::string>("id", ""), iso_utc(number(*tree, "fetched")),
                         iso_utc(number(*tree, "expires")), tree->get<std::string>("source", "")});
    }
  });
  if (!read || malformed) return kError;
  const auto rest = ControlClient::parse(splitter.rest());
  if (!rest) return kError;
  if (reported_error(*rest)) return kError;
  if (json) return kFound;
  std::sort(rows.begin(), rows.end(),
            [](const Row& a, const Row& b) { return a.domain < b.domain; });
  std::size_t widths[4] = {6, 4, 2, 20};
  for (const auto& row : rows) {
    widths[0] = std::max(widths[0], row.domain.size());
    widths[1] = std::max(widths[1], row.mode.size());
    widths[2] = std::max(widths[2], row.id.size());
  }
  auto print = [&](const std::string& domain, const std::string& mode, const std::string& id,
                   const std::string& fetched, const std::string& expires,
                   const std::string& source) {
    std::printf("%-*s  %-*s  %-*s  %-*s  %-*s  %s\n", static_cast<int>(widths[0]), domain.c_str(),
                static_cast<int>(widths[1]), mode.c_str(), static_cast<int>(widths[2]), id.c_str(),
                static_cast<int>(widths[3]), fetched.c_str(), static_cast<int>(widths[3]),
                expires.c_str(), source.c_str());
  };
  print("DOMAIN", "MODE", "ID", "FETCHED", "EXPIRES", "SOURCE");
  for (const auto& row : rows)
    print(row.domain, row.mode, row.id, row.fetched, row.expires, row.source);
  std::printf("%zu policies; %lld domains remembered without a policy\n", rows.size(),
              static_cast<long long>(number(*rest, "negative")));
  return kFound;
}

int show_policy(const ControlTarget& target, const std::string& domain, bool json) {
  const auto path = control_path(target);
  if (!path) return kError;
  ControlClient client;
  if (!client.connect(*path, target.timeout_s)) return kError;
  const auto reply = client.request("show " + domain);
  if (!reply) return kError;
  const auto error = reply->get_optional<std::string>("error");
  // The DANE result is kept apart from the policy: shown either way.
  auto print_dane = [&] {
    const auto dane = reply->get_child_optional("dane");
    if (!dane || dane->get_optional<std::string>("level") == boost::none) return;
    std::printf("dane     %s (%s), expires %s\n", dane->get<std::string>("level", "").c_str(),
                dane->get<std::string>("summary", "").c_str(),
                iso_utc(number(*dane, "expires")).c_str());
  };
  if (json) {
    std::fputs(client.last_raw().c_str(), stdout);
  } else if (error && *error == "not cached") {
    std::printf("%s: not cached\n", reply->get<std::string>("domain", domain).c_str());
    print_dane();
  } else if (!error) {
    const std::int64_t fetched = number(*reply, "fetched"), expires = number(*reply, "expires"),
                       checked = number(*reply, "checked");
    std::printf("domain   %s\nmode     %s\nid       %s\nmax_age  %lld\nmx       %s\n",
                reply->get<std::string>("domain", "").c_str(),
                reply->get<std::string>("mode", "").c_str(),
                reply->get<std::string>("id", "").c_str(),
                static_cast<long long>(number(*reply, "max_age")),
                joined(strings(*reply, "mx"), " ").c_str());
    std::printf("fetched  %s\nchecked  %s\nexpires  %s\nsource   %s\n", iso_utc(fetched).c_str(),
                iso_utc(checked).c_str(), iso_utc(expires).c_str(),
                reply->get<std::string>("source", "").c_str());
    if (const auto answers = reply->get_child_optional("answers")) {
      for (const auto& [unused, zone] : *answers) {
        const std::string name = zone.get<std::string>("zone", "null");
        std::printf("answer   [%s] %s\n", name == "null" ? "default_zone" : name.c_str(),
                    zone.get<std::string>("answer", "").c_str());
      }
    }
    print_dane();
  }
  if (!error) return kFound;
  if (*error == "not cached") return kNotFound;
  if (!json) std::fprintf(stderr, "mta-stsctl: %s\n", error->c_str());
  return kError;
}

int purge_policy(const ControlTarget& target, const std::string& domain) {
  const auto path = control_path(target);
  if (!path) return kError;
  ControlClient client;
  if (!client.connect(*path, target.timeout_s)) return kError;
  const auto reply = client.request("purge " + domain);
  if (!reply || reported_error(*reply)) return kError;
  const std::string name = reply->get<std::string>("domain", domain);
  if (reply->get<bool>("purged", false)) {
    std::printf("%s: purged\n", name.c_str());
    return kFound;
  }
  std::printf("%s: was not cached in memory (removed from the store if it was there)\n",
              name.c_str());
  return kNotFound;
}

int show_stats(const ControlTarget& target, bool json) {
  const auto path = control_path(target);
  if (!path) return kError;
  ControlClient client;
  if (!client.connect(*path, target.timeout_s)) return kError;
  const auto reply = client.request("stats");
  if (!reply || reported_error(*reply)) return kError;
  if (json) {
    std::fputs(client.last_raw().c_str(), stdout);
    return kFound;
  }
  for (const auto& [key, value] : *reply) {
    std::printf("%-15s %s\n", key.c_str(), value.data().c_str());
  }
  return kFound;
}

// The domains of a prefetch file: one a line, `#` starts a comment.
std::optional<std::vector<std::string>> read_domain_file(const std::string& file) {
  std::ifstream in_file;
  if (file != "-") {
    in_file.open(file);
    if (!in_file) {
      std::fprintf(stderr, "mta-stsctl: cannot read %s: %s\n", file.c_str(), std::strerror(errno));
      return std::nullopt;
    }
  }
  std::istream& in = file == "-" ? std::cin : in_file;
  std::vector<std::string> domains;
  std::set<std::string> seen;
  std::string line;
  while (std::getline(in, line)) {
    if (const auto hash = line.find('#'); hash != std::string::npos) line.resize(hash);
    const auto first = line.find_first_not_of(" \t\r");
    if (first == std::string::npos) continue;
    const auto last = line.find_last_not_of(" \t\r");
    std::string domain = line.substr(first, last - first + 1);
    if (seen.insert(domain).second) domains.push_back(std::move(domain));
  }
  return domains;
}

// Waits (bounded) until the daemon has fewer than limit discoveries running, so
// a long file never floods it: mail keeps its discovery slots.
bool wait_for_slots(ControlClient& client, std::size_t limit, std::chrono::seconds bound) {
  const auto deadline = std::chrono::steady_clock::now() + bound;
  for (;;) {
    const auto stats = client.request("stats");
    if (!stats) return false;
    if (static_cast<std::size_t>(number(*stats, "in_flight")) < limit ||
        std::chrono::steady_clock::now() >= deadline) {
      return true;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
}

int prefetch_file(const ControlTarget& target, const std::string& file, bool wait,
                  int wait_timeout_s, std::size_t parallel) {
  const auto domains = read_domain_file(file);
  if (!domains) return kError;
  const auto path = control_path(target);
  if (!path) return kError;
  ControlClient client;
  if (!client.connect(*path, target.timeout_s)) return kError;

  enum class State { started, cached, busy, invalid };
  std::vector<std::pair<std::string, State>> sent;  // normalised domain
  std::set<std::string> asked;
  std::size_t counts[4] = {};
  parallel = std::max<std::size_t>(1, parallel);
  for (const auto& domain : *domains) {
    if (!wait_for_slots(client, parallel, std::chrono::seconds(60))) return kError;
    const auto reply = client.request("prefetch " + domain);
    if (!reply) return kError;
    State state = State::invalid;
    if (const auto error = reply->get_optional<std::string>("error")) {
      std::fprintf(stderr, "mta-stsctl: %s: %s\n", domain.c_str(), error->c_str());
    } else if (reply->get<bool>("started", false)) {
      state = State::started;
    } else {
      state = reply->get<bool>("cached", false) ? State::cached : State::busy;
    }
    ++counts[static_cast<int>(state)];
    // Spellings of one domain ("Example.COM", "example.com.") are one domain.
    const std::string normalised = reply->get<std::string>("domain", domain);
    if (state != State::invalid && asked.insert(normalised).second) {
      sent.emplace_back(normalised, state);
    }
  }
  if (!wait) {
    std::printf(
        "%zu domains: %zu started, %zu already cached, %zu not started (in flight or "
        "daemon busy), %zu invalid\n",
        domains->size(), counts[0], counts[1], counts[2], counts[3]);
    return counts[3] > 0 ? kNotFound : kFound;
  }

  // Done when the daemon has no discovery left running (ours included) or the
  // time is up; then each domain is either cached or was resolved without a policy.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(wait_timeout_s);
  bool settled = false;
  while (!settled && std::chrono::steady_clock::now() < deadline) {
    const auto stats = client.request("stats");
    if (!stats) return kError;
    settled = number(*stats, "in_flight") == 0;
    if (!settled) std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  std::map<std::string, std::size_t> learned_modes;
  std::size_t learned = 0, no_policy = 0, failed = counts[3];
  for (const auto& [domain, state] : sent) {
    const auto reply = client.request("show " + domain);
    if (!reply) return kError;
    const auto error = reply->get_optional<std::string>("error");
    if (!error) {
      const std::string mode = reply->get<std::string>("mode", "");
      ++learned;
      ++learned_modes[mode];
      std::printf("%s  learned  %s id=%s\n", domain.c_str(), mode.c_str(),
                  reply->get<std::string>("id", "").c_str());
    } else if (settled) {
      ++no_policy;
      std::printf("%s  no policy\n", domain.c_str());
    } else {
      ++failed;
      std::printf("%s  failed  not resolved within %d s\n", domain.c_str(), wait_timeout_s);
    }
  }
  std::string modes;
  for (const auto& [mode, n] : learned_modes) {
    modes += (modes.empty() ? "" : ", ") + std::to_string(n) + " " + mode;
  }
  std::printf("learned %zu%s, no policy %zu, failed %zu\n", learned,
              modes.empty() ? "" : (" (" + modes + ")").c_str(), no_policy, failed);
  return failed > 0 ? kNotFound : kFound;
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

  // The control socket's commands.
  ControlTarget target;
  auto control_options = [&](CLI::App* sub) {
    sub->add_option("--control", target.path, "the daemon's control socket");
    sub->add_option("-c,--config", target.config_file, "take control_socket from this file");
    sub->add_option("--timeout", target.timeout_s, "seconds per request (default 10)");
  };
  std::string domain, file;
  bool wait = false;
  int wait_timeout = 60;
  std::size_t parallel = 16;
  auto* ls = app.add_subcommand("list", "list the policies the daemon has cached");
  ls->add_flag("--json", json, "the daemon's JSON reply");
  auto* show = app.add_subcommand("show", "show one cached policy and its answers");
  show->add_option("domain", domain, "policy domain")->required();
  show->add_flag("--json", json, "the daemon's JSON reply");
  auto* purge = app.add_subcommand("purge", "forget a domain's policy (memory and store)");
  purge->add_option("domain", domain, "policy domain")->required();
  auto* prefetch = app.add_subcommand("prefetch", "learn the policies of a list of domains");
  prefetch->add_option("file", file, "domains, one a line, # comments; - for stdin")->required();
  prefetch->add_flag("--wait", wait, "wait for the lookups, then summarise");
  prefetch->add_option("--wait-timeout", wait_timeout, "seconds --wait waits (default 60)");
  prefetch->add_option("--parallel", parallel, "discoveries running at once (default 16)");
  auto* stats = app.add_subcommand("stats", "the daemon's counters and cache sizes");
  stats->add_flag("--json", json, "the daemon's JSON reply");
  for (auto* sub : {ls, show, purge, prefetch, stats}) control_options(sub);
  CLI11_PARSE(app, argc, argv);

  if (q->parsed()) return query(host, port, socket_path, name, key, timeout);
  if (ls->parsed()) return list_policies(target, json);
  if (show->parsed()) return show_policy(target, domain, json);
  if (purge->parsed()) return purge_policy(target, domain);
  if (prefetch->parsed()) return prefetch_file(target, file, wait, wait_timeout, parallel);
  if (stats->parsed()) return show_stats(target, json);

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
