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

namespace mtasts::cli {

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
    if (const auto error = optional_text(*reply, "error")) {
      std::fprintf(stderr, "mta-stsctl: %s: %s\n", domain.c_str(), error->c_str());
    } else if (flag(*reply, "started")) {
      state = State::started;
    } else {
      state = flag(*reply, "cached") ? State::cached : State::busy;
    }
    ++counts[static_cast<int>(state)];
    // Spellings of one domain ("Example.COM", "example.com.") are one domain.
    const std::string normalised = text(*reply, "domain", domain);
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
    const auto error = optional_text(*reply, "error");
    if (!error) {
      const std::string mode = text(*reply, "mode");
      ++learned;
      ++learned_modes[mode];
      std::printf("%s  learned  %s id=%s\n", domain.c_str(), mode.c_str(),
                  text(*reply, "id").c_str());
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

}  // namespace mtasts::cli
