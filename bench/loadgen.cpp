// mtasts-loadgen: drives a socketmap server the way Postfix does and checks every
// answer. One thread, epoll (edge-triggered), non-blocking sockets. Each
// connection sends one request, waits for the reply (Postfix never pipelines),
// checks it byte for byte against the expected payload, records the latency and
// sends the next key (round-robin over the query file). A fast wrong answer is a
// failure, not a result.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include "latency_stats.hpp"
#include "netstring_codec.hpp"
#include "query_file.hpp"

namespace mtasts::bench {
namespace {

using Clock = std::chrono::steady_clock;

// socketmap_table(5): Postfix accepts replies up to 100 000 bytes by default.
constexpr std::size_t kMaxReply = 100000;
constexpr std::size_t kExamplesKept = 5;

struct Options {
  std::string host = "127.0.0.1";
  std::uint16_t port = 0;
  std::string name = "postfix";
  unsigned connections = 64;
  std::string mode = "persistent";
  double duration = 10;
  double warmup = 2;
  std::uint64_t requests = 0;  // > 0: send exactly this many, then stop (no warm-up)
  double timeout = 10;         // seconds per request before it counts as an error
  std::string queries;
  int server_pid = 0;  // > 0: report that process's CPU use over the measurement
  bool json = false;
};

struct Mismatch {
  std::string key;
  std::string expected;
  std::string got;
};

struct Results {
  std::vector<std::uint64_t> latencies_ns;
  std::uint64_t answered = 0;    // measured replies, right or wrong
  std::uint64_t mismatches = 0;  // wrong replies, warm-up included
  std::uint64_t errors = 0;
  std::map<std::string, std::uint64_t> error_kinds;
  std::vector<Mismatch> mismatch_examples;
  std::vector<std::string> error_examples;
  double elapsed_s = 0;
  double loadgen_cpu_s = 0;
  double server_cpu_s = -1;  // < 0: not measured
};

// waiting: between requests, queued in ready_; idle: done, no more requests.
enum class State { waiting, connecting, sending, receiving, idle };

struct Connection {
  int fd = -1;
  std::uint32_t generation = 0;  // tells a stale epoll event from one for a reused fd
  State state = State::waiting;
  const Query* query = nullptr;
  std::size_t sent = 0;
  std::string in;
  Clock::time_point start;
  bool measured = false;
};

double cpu_seconds_self() {
  rusage ru{};
  ::getrusage(RUSAGE_SELF, &ru);
  return static_cast<double>(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
         static_cast<double>(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

// utime + stime of every thread of pid (proc(5) fields 14 and 15), or -1.
double cpu_seconds_of(int pid) {
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string text((std::istreambuf_iterator<char>(stat)), std::istreambuf_iterator<char>());
  const auto paren = text.rfind(')');  // the command name may contain spaces
  if (paren == std::string::npos) return -1;
  std::istringstream fields(text.substr(paren + 1));
  std::string field;
  double ticks = 0;
  for (int i = 3; i <= 15 && fields >> field; ++i) {
    if (i >= 14) ticks += std::strtod(field.c_str(), nullptr);
  }
  return ticks / static_cast<double>(::sysconf(_SC_CLK_TCK));
}

class LoadGenerator {
 public:
  LoadGenerator(const Options& options, const std::vector<Query>& queries,
                const sockaddr_storage& addr, socklen_t addr_len)
      : options_(options),
        queries_(queries),
        addr_(addr),
        addr_len_(addr_len),
        per_request_(options.mode == "per-request"),
        connections_(options.connections) {}

  Results run() {
    epoll_ = ::epoll_create1(0);
    if (epoll_ < 0) throw std::runtime_error(std::string("epoll_create1: ") + std::strerror(errno));
    const auto timeout = std::chrono::duration_cast<Clock::duration>(
        std::chrono::duration<double>(options_.timeout));
    const auto t0 = Clock::now();
    measure_from_ = options_.requests > 0 ? t0 : t0 + seconds(options_.warmup);
    measure_until_ = options_.requests > 0 ? Clock::time_point::max()
                                           : measure_from_ + seconds(options_.duration);
    bool counters_started = false;
    double cpu_self_start = 0;
    double cpu_server_start = -1;
    auto start_counters = [&] {
      counters_started = true;
      cpu_self_start = cpu_seconds_self();
      if (options_.server_pid > 0) cpu_server_start = cpu_seconds_of(options_.server_pid);
    };
    if (options_.requests > 0) start_counters();

    busy_ = connections_.size();
    for (auto& c : connections_) ready_.push_back(&c);
    std::vector<Connection*> starting;
    epoll_event events[512];
    auto next_timeout_scan = t0;
    while (busy_ > 0) {
      // A failed connection restarts only after one more epoll_wait (up to
      // 50 ms): a server that refuses everything is not hammered in a tight loop.
      const int n = ::epoll_wait(epoll_, events, 512, ready_.empty() ? 50 : 0);
      if (n < 0 && errno != EINTR) {
        throw std::runtime_error(std::string("epoll_wait: ") + std::strerror(errno));
      }
      starting.swap(retry_);
      for (int i = 0; i < n; ++i) {
        const std::uint64_t tag = events[i].data.u64;
        auto& c = connections_[tag >> 32];
        if (c.fd < 0 || c.generation != static_cast<std::uint32_t>(tag)) continue;
        on_event(c, events[i].events);
      }
      const auto now = Clock::now();
      if (!counters_started && now >= measure_from_) start_counters();
      if (now >= measure_until_) issuing_ = false;
      if (now >= next_timeout_scan) {
        next_timeout_scan = now + std::chrono::milliseconds(100);
        for (auto& c : connections_) {
          const bool in_flight = c.state == State::connecting || c.state == State::sending ||
                                 c.state == State::receiving;
          if (in_flight && now - c.start > timeout) fail(c, "timeout", c.query->key);
        }
      }
      // Next requests start after the whole batch (never from inside a reply's
      // handler), so a server that floods replies cannot drive recursion.
      // start_request never adds to ready_: it sends, it does not read.
      starting.insert(starting.end(), ready_.begin(), ready_.end());
      ready_.clear();
      for (Connection* c : starting) start_request(*c);
      starting.clear();
    }
    results_.loadgen_cpu_s = cpu_seconds_self() - cpu_self_start;
    if (cpu_server_start >= 0)
      results_.server_cpu_s = cpu_seconds_of(options_.server_pid) - cpu_server_start;
    if (last_measured_done_ > measure_from_) {
      results_.elapsed_s =
          std::chrono::duration<double>(last_measured_done_ - measure_from_).count();
    }
    ::close(epoll_);
    return std::move(results_);
  }

 private:
  static Clock::duration seconds(double s) {
    return std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(s));
  }

  // Picks the next key and sends it, opening a connection first when needed.
  // Leaves the connection idle when no more requests are to be issued.
  void start_request(Connection& c) {
    if (options_.requests > 0 && issued_ >= options_.requests) issuing_ = false;
    if (!issuing_) {
      --busy_;
      c.state = State::idle;
      close_socket(c);
      return;
    }
    c.query = &queries_[issued_++ % queries_.size()];
    c.start = Clock::now();
    c.measured = c.start >= measure_from_ && c.start < measure_until_;
    c.sent = 0;
    c.in.clear();
    if (c.fd >= 0) {
      c.state = State::sending;
      try_send(c);
      return;
    }
    c.state = State::connecting;
    c.fd = ::socket(addr_.ss_family, SOCK_STREAM | SOCK_NONBLOCK, 0);
    if (c.fd < 0) return fail(c, "socket", std::strerror(errno));
    // No TCP_NODELAY: one write per request and no pipelining, so Nagle never
    // holds a segment back, and per-request mode saves a syscall per connection.
    // Registered once, edge-triggered: connect completion shows as EPOLLOUT,
    // replies as EPOLLIN; no epoll_ctl per request.
    epoll_event ev{};
    ev.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET;
    ev.data.u64 = (static_cast<std::uint64_t>(&c - connections_.data()) << 32) | ++c.generation;
    if (::epoll_ctl(epoll_, EPOLL_CTL_ADD, c.fd, &ev) != 0)
      return fail(c, "epoll_ctl", std::strerror(errno));
    if (::connect(c.fd, reinterpret_cast<const sockaddr*>(&addr_), addr_len_) == 0) {
      connected(c);
    } else if (errno != EINPROGRESS) {
      fail(c, "connect", std::strerror(errno));
    }
  }

  void connected(Connection& c) {
    // Persistent connections are set up once, like Postfix's pooled ones: their
    // connect time is not part of a request's latency. Per-request mode counts it.
    if (!per_request_) c.start = Clock::now();
    c.state = State::sending;
    try_send(c);
  }

  void on_event(Connection& c, std::uint32_t events) {
    if (c.state == State::connecting) {
      if (events & (EPOLLERR | EPOLLHUP)) {
        int err = 0;
        socklen_t len = sizeof err;
        ::getsockopt(c.fd, SOL_SOCKET, SO_ERROR, &err, &len);
        return fail(c, "connect", err != 0 ? std::strerror(err) : "connection closed");
      }
      if (events & EPOLLOUT) connected(c);
      return;
    }
    if (c.state == State::sending && (events & (EPOLLOUT | EPOLLERR | EPOLLHUP))) try_send(c);
    if (c.state == State::receiving && (events & (EPOLLIN | EPOLLRDHUP | EPOLLERR | EPOLLHUP))) {
      try_receive(c);
    }
  }

  void try_send(Connection& c) {
    while (c.sent < c.query->request.size()) {
      const ssize_t n = ::send(c.fd, c.query->request.data() + c.sent,
                               c.query->request.size() - c.sent, MSG_NOSIGNAL);
      if (n < 0) {
        if (errno == EAGAIN || errno == EINTR) return;
        return fail(c, "send", std::strerror(errno));
      }
      c.sent += static_cast<std::size_t>(n);
    }
    // No recv here: the reply cannot precede the request, and its arrival is a
    // new edge. Bytes a server sent unasked show up with the next reply (as a
    // mismatch or "trailing").
    c.state = State::receiving;
  }

  void try_receive(Connection& c) {
    for (;;) {
      char buf[16384];
      const ssize_t n = ::recv(c.fd, buf, sizeof buf, 0);
      if (n == 0) return fail(c, "eof", "connection closed before the reply to " + c.query->key);
      if (n < 0) {
        if (errno == EAGAIN || errno == EINTR) return;
        return fail(c, "recv", std::strerror(errno));
      }
      c.in.append(buf, static_cast<std::size_t>(n));
      const auto frame = parse_netstring(c.in, kMaxReply);
      if (frame.status == FrameStatus::malformed) return fail(c, "malformed", c.in.substr(0, 80));
      if (frame.status == FrameStatus::complete) {
        if (frame.consumed != c.in.size())
          return fail(c, "trailing", "bytes after the reply to " + c.query->key);
        return complete(c, frame.payload);
      }
    }
  }

  // Every answer is checked, warm-up included; only measured ones count towards
  // throughput and latency.
  void complete(Connection& c, std::string_view payload) {
    const auto done = Clock::now();
    const bool match = payload == c.query->expected;
    if (!match) {
      ++results_.mismatches;
      if (results_.mismatch_examples.size() < kExamplesKept) {
        results_.mismatch_examples.push_back(
            {c.query->key, c.query->expected, std::string(payload)});
      }
    }
    if (c.measured) {
      ++results_.answered;
      if (match) {
        results_.latencies_ns.push_back(
            static_cast<std::uint64_t>(std::chrono::nanoseconds(done - c.start).count()));
      }
      last_measured_done_ = done;
    }
    if (per_request_) close_socket(c);
    c.state = State::waiting;
    ready_.push_back(&c);
  }

  // Counts an error and moves on to the next request on a fresh connection, as
  // Postfix would after a broken one.
  void fail(Connection& c, const std::string& kind, const std::string& detail) {
    ++results_.errors;
    ++results_.error_kinds[kind];
    if (results_.error_examples.size() < kExamplesKept)
      results_.error_examples.push_back(kind + ": " + detail);
    if (c.measured) last_measured_done_ = Clock::now();
    close_socket(c);
    c.state = State::waiting;
    retry_.push_back(&c);
  }

  void close_socket(Connection& c) {
    if (c.fd >= 0) ::close(c.fd);  // also leaves the epoll set
    c.fd = -1;
  }

  const Options& options_;
  const std::vector<Query>& queries_;
  sockaddr_storage addr_;
  socklen_t addr_len_;
  bool per_request_;
  std::vector<Connection> connections_;
  int epoll_ = -1;
  bool issuing_ = true;
  std::uint64_t issued_ = 0;
  std::size_t busy_ = 0;            // connections not idle
  std::vector<Connection*> ready_;  // answered: next request after this batch
  std::vector<Connection*> retry_;  // failed: next request after one more epoll_wait
  Clock::time_point measure_from_;
  Clock::time_point measure_until_;
  Clock::time_point last_measured_done_;
  Results results_;
};

std::string json_string(std::string_view s) {
  std::string out = "\"";
  for (const unsigned char ch : s) {
    if (ch == '"' || ch == '\\') {
      out += '\\';
      out += static_cast<char>(ch);
    } else if (ch < 0x20) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\u%04x", ch);
      out += buf;
    } else {
      out += static_cast<char>(ch);
    }
  }
  return out + "\"";
}

void print_report(const Options& options, Results& r) {
  const LatencySummary lat = summarize(r.latencies_ns);
  const std::uint64_t answered = r.answered;
  const double qps = r.elapsed_s > 0 ? static_cast<double>(answered) / r.elapsed_s : 0;
  const double elapsed = r.elapsed_s > 0 ? r.elapsed_s : 1;
  if (options.json) {
    std::printf(
        "{\"mode\": %s, \"connections\": %u, \"elapsed_s\": %.3f, \"queries\": %llu, \"qps\": "
        "%.1f, "
        "\"mismatches\": %llu, \"errors\": %llu, \"latency_us\": {\"p50\": %.1f, \"p90\": %.1f, "
        "\"p99\": %.1f, \"p99_9\": %.1f, \"max\": %.1f}, \"cpu_pct\": {\"loadgen\": %.1f",
        json_string(options.mode).c_str(), options.connections, r.elapsed_s,
        static_cast<unsigned long long>(answered), qps,
        static_cast<unsigned long long>(r.mismatches), static_cast<unsigned long long>(r.errors),
        lat.p50_us, lat.p90_us, lat.p99_us, lat.p999_us, lat.max_us,
        100 * r.loadgen_cpu_s / elapsed);
    if (r.server_cpu_s >= 0) std::printf(", \"server\": %.1f", 100 * r.server_cpu_s / elapsed);
    std::printf("}, \"error_kinds\": {");
    const char* sep = "";
    for (const auto& [kind, count] : r.error_kinds) {
      std::printf("%s%s: %llu", sep, json_string(kind).c_str(),
                  static_cast<unsigned long long>(count));
      sep = ", ";
    }
    std::printf("}, \"first_mismatches\": [");
    sep = "";
    for (const auto& m : r.mismatch_examples) {
      std::printf("%s{\"key\": %s, \"expected\": %s, \"got\": %s}", sep, json_string(m.key).c_str(),
                  json_string(m.expected).c_str(), json_string(m.got).c_str());
      sep = ", ";
    }
    std::printf("], \"first_errors\": [");
    sep = "";
    for (const auto& e : r.error_examples) {
      std::printf("%s%s", sep, json_string(e).c_str());
      sep = ", ";
    }
    std::printf("]}\n");
    return;
  }
  std::printf("mode %s, %u connection(s), %.2f s measured\n", options.mode.c_str(),
              options.connections, r.elapsed_s);
  std::printf("queries    %llu (%.0f/s)\n", static_cast<unsigned long long>(answered), qps);
  std::printf("mismatches %llu\n", static_cast<unsigned long long>(r.mismatches));
  std::printf("errors     %llu\n", static_cast<unsigned long long>(r.errors));
  for (const auto& [kind, count] : r.error_kinds) {
    std::printf("  %-12s %llu\n", kind.c_str(), static_cast<unsigned long long>(count));
  }
  std::printf("latency us p50 %.1f  p90 %.1f  p99 %.1f  p99.9 %.1f  max %.1f\n", lat.p50_us,
              lat.p90_us, lat.p99_us, lat.p999_us, lat.max_us);
  std::printf("cpu        loadgen %.0f%%", 100 * r.loadgen_cpu_s / elapsed);
  if (r.server_cpu_s >= 0) std::printf(", server %.0f%%", 100 * r.server_cpu_s / elapsed);
  std::printf(" (of one core)\n");
  for (const auto& m : r.mismatch_examples) {
    std::printf("MISMATCH key %s\n  expected \"%s\"\n  got      \"%s\"\n", m.key.c_str(),
                m.expected.c_str(), m.got.c_str());
  }
  for (const auto& e : r.error_examples) std::printf("ERROR %s\n", e.c_str());
}

bool resolve(const Options& options, sockaddr_storage& addr, socklen_t& len) {
  addr = {};
  auto* v4 = reinterpret_cast<sockaddr_in*>(&addr);
  if (::inet_pton(AF_INET, options.host.c_str(), &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
    v4->sin_port = htons(options.port);
    len = sizeof *v4;
    return true;
  }
  auto* v6 = reinterpret_cast<sockaddr_in6*>(&addr);
  if (::inet_pton(AF_INET6, options.host.c_str(), &v6->sin6_addr) == 1) {
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons(options.port);
    len = sizeof *v6;
    return true;
  }
  return false;
}

}  // namespace
}  // namespace mtasts::bench

int main(int argc, char** argv) {
  using namespace mtasts::bench;
  Options options;
  CLI::App app{"Socketmap load generator: Postfix-like clients, every answer checked."};
  app.add_option("--host", options.host, "server address (IPv4 or IPv6 literal)")
      ->capture_default_str();
  app.add_option("--port", options.port, "server port")->required();
  app.add_option("--name", options.name, "socketmap name sent before each key")
      ->capture_default_str();
  app.add_option("--connections", options.connections, "concurrent clients")
      ->check(CLI::Range(1u, 100000u))
      ->capture_default_str();
  app.add_option("--mode", options.mode,
                 "persistent: one connection per client, reused; per-request: "
                 "connect, one request, close")
      ->check(CLI::IsMember({"persistent", "per-request"}))
      ->capture_default_str();
  app.add_option("--duration", options.duration, "seconds measured")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  app.add_option("--warmup", options.warmup, "seconds of load before measuring")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  app.add_option("--requests", options.requests,
                 "send exactly this many requests (round-robin from the first key), all measured; "
                 "replaces --duration and --warmup");
  app.add_option("--timeout", options.timeout, "seconds before a request counts as an error")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  app.add_option("--queries", options.queries, "file of KEY<TAB>EXPECTED_REPLY_PAYLOAD lines")
      ->required();
  app.add_option("--server-pid", options.server_pid, "also report this process's CPU use");
  app.add_flag("--json", options.json, "print one JSON object");
  CLI11_PARSE(app, argc, argv);

  try {
    const auto queries = load_queries(options.queries, options.name);
    sockaddr_storage addr;
    socklen_t len = 0;
    if (!resolve(options, addr, len)) {
      std::fprintf(stderr, "mtasts-loadgen: --host must be an IP address: %s\n",
                   options.host.c_str());
      return 2;
    }
    LoadGenerator generator(options, queries, addr, len);
    Results results = generator.run();
    print_report(options, results);
    return results.mismatches == 0 && results.errors == 0 ? 0 : 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "mtasts-loadgen: %s\n", e.what());
    return 2;
  }
}
