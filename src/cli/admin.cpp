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
      rows.push_back(Row{text(*tree, "domain"), text(*tree, "mode"), text(*tree, "id"),
                         iso_utc(number(*tree, "fetched")), iso_utc(number(*tree, "expires")),
                         text(*tree, "source")});
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
  const auto error = optional_text(*reply, "error");
  // The DANE result is kept apart from the policy: shown either way.
  auto print_dane = [&] {
    const Tree* dane = child(*reply, "dane");
    if (dane == nullptr || !optional_text(*dane, "level")) return;
    std::printf("dane     %s (%s), expires %s\n", text(*dane, "level").c_str(),
                text(*dane, "summary").c_str(), iso_utc(number(*dane, "expires")).c_str());
  };
  if (json) {
    std::fputs(client.last_raw().c_str(), stdout);
  } else if (error && *error == "not cached") {
    std::printf("%s: not cached\n", text(*reply, "domain", domain).c_str());
    print_dane();
  } else if (!error) {
    const std::int64_t fetched = number(*reply, "fetched"), expires = number(*reply, "expires"),
                       checked = number(*reply, "checked");
    std::printf("domain   %s\nmode     %s\nid       %s\nmax_age  %lld\nmx       %s\n",
                text(*reply, "domain").c_str(), text(*reply, "mode").c_str(),
                text(*reply, "id").c_str(), static_cast<long long>(number(*reply, "max_age")),
                joined(strings(*reply, "mx"), " ").c_str());
    std::printf("fetched  %s\nchecked  %s\nexpires  %s\nsource   %s\n", iso_utc(fetched).c_str(),
                iso_utc(checked).c_str(), iso_utc(expires).c_str(), text(*reply, "source").c_str());
    if (const Tree* answers = child(*reply, "answers")) {
      for (const auto& zone : *answers) {
        const std::string name = text(zone, "zone", "null");
        std::printf("answer   [%s] %s\n", name == "null" ? "default_zone" : name.c_str(),
                    text(zone, "answer").c_str());
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
  const std::string name = text(*reply, "domain", domain);
  if (flag(*reply, "purged")) {
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
  for (const auto& [key, value] : reply->items()) {
    std::printf("%-15s %s\n", key.c_str(), shown(value).c_str());
  }
  return kFound;
}

int reload_config(const ControlTarget& target, bool json) {
  const auto path = control_path(target);
  if (!path) return kError;
  ControlClient client;
  if (!client.connect(*path, target.timeout_s)) return kError;
  const auto reply = client.request("reload");
  if (!reply || reported_error(*reply)) return kError;
  if (json) {
    std::fputs(client.last_raw().c_str(), stdout);
    return kFound;
  }
  auto names = [&](const char* key) { return joined(strings(*reply, key), ", "); };
  const auto applied = names("applied");
  const auto restart = names("restart_needed");
  const auto refused = names("refused");
  std::printf("reloaded: %s\n", applied.empty() ? "nothing changed that applies in place"
                                                : ("applied " + applied).c_str());
  if (!restart.empty()) std::printf("restart mta-stsd to apply: %s\n", restart.c_str());
  if (!refused.empty()) std::printf("not applied: %s\n", refused.c_str());
  return kFound;
}

int list_alarms(const ControlTarget& target, bool json) {
  const auto path = control_path(target);
  if (!path) return kError;
  ControlClient client;
  if (!client.connect(*path, target.timeout_s)) return kError;
  const auto reply = client.request("alarms");
  if (!reply || reported_error(*reply)) return kError;
  if (json) {
    std::fputs(client.last_raw().c_str(), stdout);
    return kFound;
  }
  const Tree* alarms = child(*reply, "alarms");
  std::size_t count = 0;
  if (alarms != nullptr) {
    for (const auto& alarm : *alarms) {
      if (count++ == 0)
        std::printf("%-30s  %-13s  %-20s  %s\n", "DOMAIN", "ALARM", "SINCE", "CHANGE");
      std::printf("%-30s  %-13s  %-20s  %s -> %s (%s)\n", text(alarm, "subject").c_str(),
                  text(alarm, "kind").c_str(), iso_utc(number(alarm, "since")).c_str(),
                  text(alarm, "before").c_str(), text(alarm, "after").c_str(),
                  text(alarm, "reason").c_str());
    }
  }
  std::printf("%zu domain(s) in danger of a downgrade\n", count);
  return kFound;
}

// The domains of a prefetch file: one a line, `#` starts a comment.

}  // namespace mtasts::cli
