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

#include "control/protocol.hpp"
#include "resolver/answer.hpp"
#include "resolver/dane_discovery.hpp"
#include "resolver/discovery.hpp"
#include "resolver/network.hpp"
#include "setup/setup.hpp"
#include "sts/answer.hpp"
#include "sts/query_key.hpp"

namespace mtasts::cli {

using control::dump;
using control::Json;

int resolve(const mtasts::config::Config& config, const std::string& key,
            const std::string& zone_name, bool json) {
  auto parsed = mtasts::sts::parse_query_key(key);
  std::string answer{mtasts::sts::kNotFound};
  if (parsed.kind != mtasts::sts::QueryKey::Kind::domain) {
    const char* why = parsed.kind == mtasts::sts::QueryKey::Kind::parent_domain
                          ? "parent-domain key: never a parent's policy (RFC 8461 §3.4)"
                          : parsed.reason.c_str();
    if (json) {
      std::printf("%s\n", dump(Json{{"key", key},
                                    {"domain", nullptr},
                                    {"answer", answer},
                                    {"reason", why},
                                    {"steps", Json::array()}})
                              .c_str());
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
  Json dane_json = nullptr;
  std::string dane_text;
  if (dane) {
    const auto& e = dane->evidence;
    dane_json = Json{{"level", mtasts::dane::to_string(dane->verdict)},
                     {"mx_secure", e.mx_secure},
                     {"implicit_mx", e.implicit_mx},
                     {"null_mx", e.null_mx},
                     {"reason", dane->reason},
                     {"hosts", Json::array()}};
    dane_text =
        fmt::format("dane:    {} (MX {}{}{}{})\n", mtasts::dane::to_string(dane->verdict),
                    e.mx_secure ? "secure" : "insecure", e.implicit_mx ? ", implicit" : "",
                    e.null_mx ? ", null MX" : "", dane->reason.empty() ? "" : "; " + dane->reason);
    for (std::size_t i = 0; i < e.hosts.size(); ++i) {
      const auto& h = e.hosts[i];
      Json records = Json::array();
      for (const auto& r : h.records) records.push_back(mtasts::dane::to_text(r));
      dane_json["hosts"].push_back(Json{{"host", h.host},
                                        {"tlsa", mtasts::dane::to_string(h.state)},
                                        {"error", h.error},
                                        {"records", std::move(records)}});
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
  }
  if (json) {
    Json steps = Json::array();
    for (const auto& step : result->steps) {
      steps.push_back(Json{{"step", step.name}, {"ok", step.ok}, {"detail", step.detail}});
    }
    std::printf("%s\n", dump(Json{{"key", key},
                                  {"domain", parsed.domain},
                                  {"zone", zone->name},
                                  {"outcome", outcome},
                                  {"txt_id", result->txt_id},
                                  {"reason", result->reason},
                                  {"answer", answer},
                                  {"steps", std::move(steps)},
                                  {"dane", std::move(dane_json)}})
                            .c_str());
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

}  // namespace mtasts::cli
