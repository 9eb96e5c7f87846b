#include "resolver/dane_discovery.hpp"

#include <algorithm>
#include <charconv>
#include <memory>

#include <fmt/format.h>

#include "dns/ldns.hpp"

namespace mtasts::resolver {

namespace {

constexpr int kTypeA = LDNS_RR_TYPE_A;
constexpr int kTypeMx = LDNS_RR_TYPE_MX;
constexpr int kTypeTlsa = LDNS_RR_TYPE_TLSA;

struct DaneRun {
  DaneDiscovery result;
  std::size_t remaining = 0;
  std::function<void(DaneDiscovery)> done;

  void note_ttl(std::uint32_t ttl) {
    if (ttl != 0 && (result.ttl == 0 || ttl < result.ttl)) result.ttl = ttl;
  }
  void finish() {
    result.verdict = dane::evaluate(result.evidence);
    if (result.verdict == dane::Verdict::temp && result.reason.empty()) {
      result.reason = "every TLSA lookup failed";
    }
    auto callback = std::move(done);
    callback(std::move(result));
  }
};

dane::HostTlsa host_tlsa(std::string host, dns::SecureResult r) {
  dane::HostTlsa h;
  h.host = std::move(host);
  switch (r.status) {
    case dns::Status::temp_fail:
      h.state = dane::HostTlsa::State::failed;
      h.error = r.error;
      return h;
    case dns::Status::no_data:
      // An authenticated denial means the host has no TLSA; an unauthenticated
      // one proves nothing either way (RFC 7672 §2.2).
      h.state = r.authenticated ? dane::HostTlsa::State::none : dane::HostTlsa::State::insecure;
      return h;
    case dns::Status::ok:
      break;
  }
  for (const auto& rec : r.records) {
    if (auto t = dane::parse_tlsa_rdata(rec.data)) h.records.push_back(std::move(*t));
  }
  if (!r.authenticated) {
    h.state = dane::HostTlsa::State::insecure;  // RFC 7672 §2.2: ignored
  } else {
    const bool any = std::any_of(h.records.begin(), h.records.end(),
                                 [](const dane::Tlsa& t) { return dane::usable(t); });
    h.state = any ? dane::HostTlsa::State::usable : dane::HostTlsa::State::unusable;
  }
  return h;
}

// One host: its address RRset and its TLSA RRset, asked in parallel. As in
// Postfix (RFC 7672 §2.2.2), TLSA records count only for a host whose address
// records are secure: an unsigned host's TLSA lookup (which some broken servers
// fail) says nothing, so it can neither defer nor authenticate anything.
struct DaneHostRun {
  std::optional<dns::SecureResult> address, tlsa;
};

void finish_host(const std::shared_ptr<DaneRun>& run, std::size_t i, DaneHostRun& h) {
  auto& host = run->result.evidence.hosts[i];
  const auto& addr = *h.address;
  if (addr.status != dns::Status::temp_fail) run->note_ttl(addr.ttl);
  if (addr.status == dns::Status::temp_fail) {
    run->result.servfail = run->result.servfail || addr.cause == dns::Cause::servfail;
    host.state = dane::HostTlsa::State::failed;
    host.error = fmt::format("address lookup: {}", addr.error);
  } else if (!addr.authenticated) {
    host.state = dane::HostTlsa::State::insecure;
  } else {
    if (h.tlsa->status != dns::Status::temp_fail) run->note_ttl(h.tlsa->ttl);
    run->result.servfail = run->result.servfail || h.tlsa->cause == dns::Cause::servfail;
    host = host_tlsa(std::move(host.host), std::move(*h.tlsa));
  }
  if (--run->remaining == 0) run->finish();
}

void lookup_tlsa(DnsPort& dns, const std::shared_ptr<DaneRun>& run, std::uint16_t port) {
  auto& hosts = run->result.evidence.hosts;
  if (hosts.empty()) return run->finish();
  run->remaining = hosts.size();
  for (std::size_t i = 0; i < hosts.size(); ++i) {
    auto state = std::make_shared<DaneHostRun>();
    auto done = [run, i, state] {
      if (state->address && state->tlsa) finish_host(run, i, *state);
    };
    dns.secure(hosts[i].host, kTypeA, [run, state, done](dns::SecureResult r) {
      run->result.saw_authenticated = run->result.saw_authenticated || r.authenticated;
      state->address = std::move(r);
      done();
    });
    // RFC 7672 §2.2.3 (RFC 6698 §3): the TLSA owner is _port._tcp.HOST.
    const std::string owner = fmt::format("_{}._tcp.{}", port, hosts[i].host);
    dns.secure(owner, kTypeTlsa, [run, state, done](dns::SecureResult r) {
      run->result.saw_authenticated = run->result.saw_authenticated || r.authenticated;
      state->tlsa = std::move(r);
      done();
    });
  }
}

}  // namespace

std::string dane_destination(const DaneTarget& target) {
  if (target.explicit_host) return fmt::format("[{}]:{}", target.name, target.port);
  // "domain:port" next hops look TLSA up at _port._tcp.MX: their own entry.
  if (target.port != 25) return fmt::format("{}:{}", target.name, target.port);
  return target.name;
}

std::optional<DaneTarget> parse_dane_destination(std::string_view destination) {
  if (destination.empty()) return std::nullopt;
  const bool bracketed = destination.front() == '[';
  const auto colon = bracketed ? destination.find("]:") : destination.rfind(':');
  if (!bracketed && colon == std::string_view::npos) {
    return DaneTarget{std::string(destination), false, 25};
  }
  if (colon == std::string_view::npos || colon < 2) return std::nullopt;
  unsigned port = 0;
  const auto digits = destination.substr(colon + (bracketed ? 2 : 1));
  auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), port);
  if (ec != std::errc{} || end != digits.data() + digits.size() || port == 0 || port > 65535) {
    return std::nullopt;
  }
  if (bracketed) {
    return DaneTarget{std::string(destination.substr(1, colon - 1)), true,
                      static_cast<std::uint16_t>(port)};
  }
  return DaneTarget{std::string(destination.substr(0, colon)), false,
                    static_cast<std::uint16_t>(port)};
}

void discover_dane(DnsPort& dns, const DaneTarget& target,
                   std::function<void(DaneDiscovery)> done) {
  auto run = std::make_shared<DaneRun>();
  run->done = std::move(done);
  if (target.explicit_host) {
    // A next hop given as [host]: no MX RRset is involved, Postfix connects to
    // exactly this host, so only its TLSA records matter.
    run->result.evidence.mx_secure = true;
    run->result.evidence.hosts.push_back({target.name, dane::HostTlsa::State::failed, {}, {}});
    return lookup_tlsa(dns, run, target.port);
  }
  dns.secure(
      target.name, kTypeMx,
      [&dns, run, port = target.port, domain = target.name](dns::SecureResult mx) {
        auto& evidence = run->result.evidence;
        run->result.saw_authenticated = mx.authenticated;
        switch (mx.status) {
          case dns::Status::temp_fail:
            // Without the MX RRset nothing is known (a bogus zone ends here).
            run->result.verdict = dane::Verdict::temp;
            run->result.reason = fmt::format("MX lookup: {}", mx.error);
            run->result.servfail = mx.cause == dns::Cause::servfail;
            {
              auto callback = std::move(run->done);
              callback(std::move(run->result));
            }
            return;
          case dns::Status::no_data:
            // RFC 7672 §2.2.2 / RFC 5321 §5.1: no MX, the domain is its own MX host.
            evidence.mx_secure = mx.authenticated;
            evidence.implicit_mx = true;
            run->note_ttl(mx.ttl);
            evidence.hosts.push_back({domain, dane::HostTlsa::State::failed, {}, {}});
            return lookup_tlsa(dns, run, port);
          case dns::Status::ok:
            break;
        }
        evidence.mx_secure = mx.authenticated;
        run->note_ttl(mx.ttl);
        auto records = std::move(mx.records);
        std::stable_sort(records.begin(), records.end(),
                         [](const auto& a, const auto& b) { return a.preference < b.preference; });
        for (auto& rec : records) {
          if (rec.data == "." || rec.data.empty()) {
            // RFC 7505: a null MX; only meaningful alone.
            if (records.size() == 1) evidence.null_mx = true;
            continue;
          }
          const bool seen =
              std::any_of(evidence.hosts.begin(), evidence.hosts.end(),
                          [&](const dane::HostTlsa& h) { return h.host == rec.data; });
          if (seen) continue;
          if (evidence.hosts.size() >= kMaxDaneHosts) {
            ++evidence.skipped;
            continue;
          }
          evidence.hosts.push_back({std::move(rec.data), dane::HostTlsa::State::failed, {}, {}});
        }
        lookup_tlsa(dns, run, port);
      });
}

}  // namespace mtasts::resolver
