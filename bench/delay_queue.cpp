// mtasts-delay-queue: adds a fixed delay to every packet of one NFQUEUE queue.
// This machine has no tc netem; iptables-legacy's NFQUEUE target hands packets
// to this program, which holds each one for --delay-ms and then accepts it.
// Matched on the way out (OUTPUT chain), each packet is delayed once, so a rule
// per direction gives the same delay each way.
//
//   iptables-legacy -I OUTPUT -d 127.0.0.22 -p udp --dport 53 -j NFQUEUE --queue-num 4217
//       --queue-bypass        (and the same with -s/--sport for the answers)
//   mtasts-delay-queue --queue 4217 --delay-ms 20
//
// Prints "ready queue=N delay_ms=D" once bound, and its counters on SIGTERM or
// SIGINT, after accepting every packet it still holds.
#include <arpa/inet.h>
#include <libnetfilter_queue/libnetfilter_queue.h>
#include <linux/netfilter.h>
#include <poll.h>
#include <sys/socket.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <deque>

namespace {

using Clock = std::chrono::steady_clock;

volatile std::sig_atomic_t g_stop = 0;

void on_signal(int) { g_stop = 1; }

struct Held {
  std::uint32_t id;
  Clock::time_point due;
};

struct State {
  std::chrono::microseconds delay{};
  std::deque<Held> held;  // the delay is fixed, so arrival order is release order
  std::uint64_t packets = 0;
  std::size_t max_held = 0;
};

// Called by nfq_handle_packet for each queued packet: only its id is kept.
// No exception may leave it (a C callback): push_back failing is reported as
// an error to the library instead.
int on_packet(nfq_q_handle*, nfgenmsg*, nfq_data* data, void* user) noexcept {
  auto* state = static_cast<State*>(user);
  const nfqnl_msg_packet_hdr* header = nfq_get_msg_packet_hdr(data);
  if (header == nullptr) return 0;
  try {
    state->held.push_back({ntohl(header->packet_id), Clock::now() + state->delay});
  } catch (...) {
    return -1;
  }
  ++state->packets;
  state->max_held = std::max(state->max_held, state->held.size());
  return 0;
}

// Accepts every held packet whose time has come. Packet ids grow by one per
// queued packet, so one batch verdict (every id up to the last due one) covers
// them, including any whose message was lost to a full socket buffer.
void release_due(nfq_q_handle* queue, State& state, Clock::time_point now) {
  bool any = false;
  std::uint32_t last = 0;
  while (!state.held.empty() && state.held.front().due <= now) {
    last = state.held.front().id;
    state.held.pop_front();
    any = true;
  }
  if (any) nfq_set_verdict_batch(queue, last, NF_ACCEPT);
}

int poll_timeout_ms(const State& state, Clock::time_point now) {
  if (state.held.empty()) return 200;  // wake up now and then to see a signal
  const auto wait = std::chrono::ceil<std::chrono::milliseconds>(state.held.front().due - now);
  return static_cast<int>(std::clamp<std::int64_t>(wait.count(), 0, 200));
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"mtasts-delay-queue: hold each packet of an NFQUEUE queue for a fixed delay"};
  unsigned queue_num = 4217;
  double delay_ms = 20;
  app.add_option("--queue", queue_num, "NFQUEUE queue number (iptables --queue-num)")
      ->check(CLI::Range(0, 65535));
  app.add_option("--delay-ms", delay_ms, "delay added to each packet, in milliseconds")
      ->check(CLI::Range(0.0, 10000.0));
  CLI11_PARSE(app, argc, argv);

  State state;
  state.delay = std::chrono::microseconds(static_cast<std::int64_t>(delay_ms * 1000.0));

  nfq_handle* handle = nfq_open();
  if (handle == nullptr) {
    std::fprintf(stderr, "mtasts-delay-queue: nfq_open: %s (needs CAP_NET_ADMIN)\n",
                 std::strerror(errno));
    return 1;
  }
  nfq_q_handle* queue =
      nfq_create_queue(handle, static_cast<std::uint16_t>(queue_num), &on_packet, &state);
  if (queue == nullptr) {
    std::fprintf(stderr, "mtasts-delay-queue: cannot bind queue %u: %s (in use?)\n", queue_num,
                 std::strerror(errno));
    nfq_close(handle);
    return 1;
  }
  // Only the packet id is needed. GSO: loopback's large segments are queued
  // whole rather than split in software first.
  if (nfq_set_mode(queue, NFQNL_COPY_META, 0) < 0 || nfq_set_queue_maxlen(queue, 65536) < 0 ||
      nfq_set_queue_flags(queue, NFQA_CFG_F_GSO, NFQA_CFG_F_GSO) < 0) {
    std::fprintf(stderr, "mtasts-delay-queue: cannot configure queue %u: %s\n", queue_num,
                 std::strerror(errno));
    nfq_destroy_queue(queue);
    nfq_close(handle);
    return 1;
  }
  nfnl_rcvbufsiz(nfq_nfnlh(handle), 8u << 20);

  struct sigaction action {};
  action.sa_handler = on_signal;
  sigaction(SIGTERM, &action, nullptr);
  sigaction(SIGINT, &action, nullptr);

  std::printf("ready queue=%u delay_ms=%g\n", queue_num, delay_ms);
  std::fflush(stdout);

  const int fd = nfq_fd(handle);
  std::uint64_t overruns = 0;
  alignas(8) static char buffer[1 << 16];
  int status = 0;
  while (g_stop == 0) {
    pollfd p{fd, POLLIN, 0};
    const int ready = ::poll(&p, 1, poll_timeout_ms(state, Clock::now()));
    if (ready < 0 && errno != EINTR) {
      std::fprintf(stderr, "mtasts-delay-queue: poll: %s\n", std::strerror(errno));
      status = 1;
      break;
    }
    if (ready > 0) {
      for (;;) {
        const ssize_t got = ::recv(fd, buffer, sizeof buffer, MSG_DONTWAIT);
        if (got > 0) {
          nfq_handle_packet(handle, buffer, static_cast<int>(got));
          continue;
        }
        // ENOBUFS: the kernel dropped messages; their packets wait in the queue
        // and the next batch verdict accepts them.
        if (got < 0 && errno == ENOBUFS) {
          ++overruns;
          continue;
        }
        break;
      }
    }
    release_due(queue, state, Clock::now());
  }
  release_due(queue, state, Clock::time_point::max());
  std::printf("packets=%llu max_held=%zu overruns=%llu\n",
              static_cast<unsigned long long>(state.packets), state.max_held,
              static_cast<unsigned long long>(overruns));
  nfq_destroy_queue(queue);
  nfq_close(handle);
  return status;
}
