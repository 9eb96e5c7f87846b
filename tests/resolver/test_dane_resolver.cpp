// DaneResolver against a scripted DNS server, with injected time: caching by
// TTL, the background sweep, stale results while lookups fail, and the check
// that the resolver validates at all.
#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include <boost/asio/io_context.hpp>

#include "../dns/dns_test_server.hpp"
#include "resolver/dane_resolver.hpp"
#include "util/clock.hpp"

namespace {

using namespace mtasts;
using namespace mtasts::dns::testing;
using namespace std::chrono_literals;

const std::string kHash = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

// Answers from a table of "name type" -> records; `ad` for every answer;
// `fail` turns every answer into SERVFAIL. Counts the queries per name.
struct Zone {
  std::mutex mutex;
  std::map<std::string, std::vector<std::string>> records;
  bool ad = true;
  bool fail = false;
  std::map<std::string, int> asked;

  DnsTestServer::Handler handler() {
    return [this](const Bytes& query, bool) -> std::optional<Bytes> {
      auto q = question_of(query);
      if (!q) return std::nullopt;
      char* type = ldns_rr_type2str(q->type);
      const std::string key = q->name + " " + type;
      std::free(type);
      std::lock_guard lock(mutex);
      ++asked[key];
      ReplySpec spec;
      spec.ad = ad;
      if (fail) {
        spec.rcode = LDNS_RCODE_SERVFAIL;
        spec.ad = false;
      } else if (auto it = records.find(key); it != records.end()) {
        spec.answers = it->second;
      } else {
        spec.rcode = LDNS_RCODE_NXDOMAIN;
      }
      return make_reply(query, spec);
    };
  }
  int count(const std::string& key) {
    std::lock_guard lock(mutex);
    return asked[key];
  }
};

struct Fixture {
  Zone zone;
  DnsTestServer server;
  boost::asio::io_context io;
  util::ManualClock clock;
  resolver::AsioTimers timers{io};
  std::unique_ptr<dns::Resolver> dns;
  std::unique_ptr<resolver::NetworkDns> port;
  std::unique_ptr<resolver::DaneResolver> dane;

  explicit Fixture(resolver::DaneSettings settings = {}) {
    zone.records["example.test. MX"] = {"example.test. 300 IN MX 10 mx.example.test."};
    zone.records["mx.example.test. A"] = {"mx.example.test. 300 IN A 192.0.2.1"};
    zone.records["_25._tcp.mx.example.test. TLSA"] = {
        "_25._tcp.mx.example.test. 300 IN TLSA 3 1 1 " + kHash};
    server.set_handler(zone.handler());
    dns::ResolverOptions options;
    options.nameservers = {server.address()};
    options.timeout = 500ms;
    options.tries = 1;
    dns = std::make_unique<dns::Resolver>(io, options);
    port = std::make_unique<resolver::NetworkDns>(*dns);
    dane = std::make_unique<resolver::DaneResolver>(timers, *port, clock, settings, nullptr);
  }

  resolver::DaneOutcome resolve(const std::string& domain) {
    std::optional<resolver::DaneOutcome> got;
    dane->resolve({domain, false, 25}, std::chrono::steady_clock::now() + 2s,
                  [&](resolver::DaneOutcome o) { got = std::move(o); });
    io.restart();
    while (!got && io.run_one_for(3s)) {
    }
    REQUIRE(got);
    return *got;
  }
  void settle() {
    io.restart();
    io.run_for(300ms);
  }
};

}  // namespace

TEST_CASE("a dane-only result is cached for its DNS TTL, within the configured bounds") {
  resolver::DaneSettings settings;
  settings.min_ttl = 60;
  settings.max_ttl = 200;  // below the records' 300 s
  Fixture f(settings);
  const auto start = f.clock.now();
  auto outcome = f.resolve("example.test");
  CHECK(outcome.known);
  CHECK(outcome.level == dane::Level::dane_only);
  CHECK(f.zone.count("_25._tcp.mx.example.test. TLSA") == 1);
  CHECK(f.zone.count("mx.example.test. A") == 1);
  const auto* cached = f.dane->cache().result("example.test");
  REQUIRE(cached != nullptr);
  CHECK(cached->expires_at == start + 200);
  CHECK(cached->keep_until == start + 200 + settings.stale_ttl);
  CHECK(f.dane->peek("example.test", start + 199).kind == resolver::DaneCache::Lookup::Kind::fresh);
  CHECK(f.dane->status() == "active");
}

TEST_CASE("the sweep looks results that protect mail up again before they expire") {
  Fixture f;
  f.resolve("example.test");
  CHECK(f.zone.count("example.test. MX") == 1);
  const auto first = f.dane->cache().result("example.test")->fetched_at;
  // Nothing due yet: expiry is 300 s away, the horizon 100 s.
  CHECK(f.dane->sweep(100) == 0);
  f.clock.advance(250);
  CHECK(f.dane->sweep(100) == 1);
  f.settle();
  CHECK(f.zone.count("example.test. MX") == 2);
  CHECK(f.dane->cache().result("example.test")->fetched_at == first + 250);
  CHECK(f.dane->in_flight() == 0);
}

TEST_CASE("while lookups fail, the last result answers until its stale window ends") {
  resolver::DaneSettings settings;
  settings.stale_ttl = 600;
  Fixture f(settings);
  const auto start = f.clock.now();
  f.resolve("example.test");
  f.zone.fail = true;
  f.clock.set(start + 301);  // expired, inside the stale window
  CHECK(f.dane->peek("example.test", f.clock.now()).kind ==
        resolver::DaneCache::Lookup::Kind::expired);
  auto stale = f.resolve("example.test");
  CHECK(stale.known);
  CHECK(stale.stale);
  CHECK(stale.level == dane::Level::dane_only);
  CHECK(stale.reason.find("SERVFAIL") != std::string::npos);
  // The failure is remembered: the next query uses the stale result at once.
  CHECK(f.dane->peek("example.test", f.clock.now()).kind ==
        resolver::DaneCache::Lookup::Kind::stale);
  f.clock.set(start + 300 + 600);  // the stale window is over
  auto none = f.resolve("example.test");
  CHECK_FALSE(none.known);
  CHECK(f.dane->stats().failures == 2);
}

TEST_CASE("a resolver that never sets the AD bit makes DANE inert, with one warning") {
  Fixture f;
  f.zone.ad = false;
  for (int i = 0; i < 9; ++i) {
    auto o = f.resolve("host" + std::to_string(i) + ".example.test");
    CHECK(o.known);
    CHECK(o.level == dane::Level::none);
  }
  CHECK(f.dane->status() == "unknown");
  f.resolve("example.test");  // TLSA present but not authenticated: ignored
  CHECK(f.dane->cache().result("example.test")->level == dane::Level::none);
  CHECK(f.dane->status() == "inert");
  f.zone.ad = true;
  f.clock.advance(400);
  f.resolve("example.test");
  CHECK(f.dane->status() == "active");
}
