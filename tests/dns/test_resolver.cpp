// The resolver against a scripted DNS server on 127.0.0.1.
#include <doctest/doctest.h>

#include <chrono>
#include <map>
#include <memory>
#include <thread>

#include <boost/asio/io_context.hpp>

#include "dns/resolver.hpp"
#include "dns_test_server.hpp"

namespace {

using namespace mtasts::dns;
using namespace mtasts::dns::testing;
using namespace std::chrono_literals;

ResolverOptions options_for(const DnsTestServer& server, std::chrono::milliseconds timeout = 1000ms,
                            int tries = 2) {
  ResolverOptions o;
  o.nameservers = {server.address()};
  o.timeout = timeout;
  o.tries = tries;
  return o;
}

// Zone lines keyed by "name type"; names without a key get NXDOMAIN.
struct Zone {
  std::map<std::string, ReplySpec> replies;

  DnsTestServer::Handler handler() const {
    return [replies = replies](const Bytes& query, bool) -> std::optional<Bytes> {
      auto q = question_of(query);
      if (!q) return std::nullopt;
      char* type = ldns_rr_type2str(q->type);
      const std::string key = q->name + " " + type;
      std::free(type);
      auto it = replies.find(key);
      if (it == replies.end()) {
        ReplySpec nx;
        nx.rcode = LDNS_RCODE_NXDOMAIN;
        return make_reply(query, nx);
      }
      return make_reply(query, it->second);
    };
  }
};

// Runs the io_context until the single callback has run, and checks it ran
// exactly once, on this thread.
template <typename Result, typename Start>
Result run_one(boost::asio::io_context& io, Start start) {
  int calls = 0;
  Result result;
  const auto me = std::this_thread::get_id();
  start([&](Result r) {
    ++calls;
    CHECK(std::this_thread::get_id() == me);
    result = std::move(r);
  });
  io.restart();
  io.run();
  CHECK(calls == 1);
  return result;
}

TxtResult txt(Resolver& r, boost::asio::io_context& io, const std::string& name) {
  return run_one<TxtResult>(io, [&](auto cb) { r.query_txt(name, cb); });
}

}  // namespace

TEST_CASE("TXT: one string, several strings, several records") {
  DnsTestServer server;
  Zone zone;
  zone.replies["_mta-sts.one.example. TXT"].answers = {
      "_mta-sts.one.example. 300 IN TXT \"v=STSv1; id=20240101\""};
  zone.replies["_mta-sts.multi.example. TXT"].answers = {
      "_mta-sts.multi.example. 300 IN TXT \"v=STSv1; \" \"id=abc\" \"123\""};
  zone.replies["_mta-sts.two.example. TXT"].answers = {
      "_mta-sts.two.example. 300 IN TXT \"v=STSv1; id=1\"",
      "_mta-sts.two.example. 300 IN TXT \"something else\""};
  server.set_handler(zone.handler());
  boost::asio::io_context io;
  Resolver resolver(io, options_for(server));

  auto one = txt(resolver, io, "_mta-sts.one.example");
  CHECK(one.status == Status::ok);
  CHECK(one.records == std::vector<std::string>{"v=STSv1; id=20240101"});

  // RFC 8461 §3.1: the strings of one record are joined without spaces.
  auto multi = txt(resolver, io, "_MTA-STS.Multi.Example.");
  CHECK(multi.status == Status::ok);
  CHECK(multi.records == std::vector<std::string>{"v=STSv1; id=abc123"});

  auto two = txt(resolver, io, "_mta-sts.two.example");
  CHECK(two.status == Status::ok);
  CHECK(two.records == std::vector<std::string>{"v=STSv1; id=1", "something else"});
  CHECK(resolver.pending() == 0);
}

TEST_CASE("queries carry RD and EDNS0 with a 1232-byte payload; big UDP answers need no TCP") {
  DnsTestServer server;
  std::optional<Question> seen;
  const std::string big(250, 'x');
  server.set_handler([&](const Bytes& query, bool) -> std::optional<Bytes> {
    seen = question_of(query);
    ReplySpec spec;
    for (int i = 0; i < 4; ++i) {
      spec.answers.push_back("big.example. 300 IN TXT \"" + big + "\" \"" + std::to_string(i) +
                             "\"");
    }
    return make_reply(query, spec);
  });
  boost::asio::io_context io;
  Resolver resolver(io, options_for(server));
  auto r = txt(resolver, io, "big.example");
  CHECK(r.status == Status::ok);
  CHECK(r.records.size() == 4);
  REQUIRE(seen);
  CHECK(seen->udp_size == 1232);
  CHECK_FALSE(seen->dnssec_ok);
  CHECK(server.tcp_queries == 0);
}

TEST_CASE("NXDOMAIN and NODATA are no_data") {
  DnsTestServer server;
  Zone zone;
  zone.replies["nodata.example. TXT"] = ReplySpec{};
  server.set_handler(zone.handler());
  boost::asio::io_context io;
  Resolver resolver(io, options_for(server));

  auto nx = txt(resolver, io, "missing.example");
  CHECK(nx.status == Status::no_data);
  CHECK(nx.error == "NXDOMAIN");
  CHECK(nx.cause == Cause::nxdomain);
  auto nodata = txt(resolver, io, "nodata.example");
  CHECK(nodata.status == Status::no_data);
  CHECK(nodata.error == "NODATA");
  CHECK(nodata.cause == Cause::nodata);
}

TEST_CASE("SERVFAIL, REFUSED and FORMERR are temp_fail with the server's answer named") {
  DnsTestServer server;
  Zone zone;
  zone.replies["servfail.example. TXT"].rcode = LDNS_RCODE_SERVFAIL;
  zone.replies["refused.example. TXT"].rcode = LDNS_RCODE_REFUSED;
  zone.replies["notimp.example. TXT"].rcode = LDNS_RCODE_NOTIMPL;
  server.set_handler(zone.handler());
  boost::asio::io_context io;
  Resolver resolver(io, options_for(server));

  auto servfail = txt(resolver, io, "servfail.example");
  CHECK(servfail.status == Status::temp_fail);
  CHECK(servfail.error == "SERVFAIL from server");
  CHECK(servfail.cause == Cause::servfail);
  auto refused = txt(resolver, io, "refused.example");
  CHECK(refused.status == Status::temp_fail);
  CHECK(refused.error == "REFUSED from server");
  CHECK(refused.cause == Cause::refused);
  auto notimp = txt(resolver, io, "notimp.example");
  CHECK(notimp.status == Status::temp_fail);
  CHECK(notimp.error == "NOTIMP from server");
}

TEST_CASE("a server that never answers gives temp_fail \"timeout\" within timeout and tries") {
  DnsTestServer server;
  server.set_handler([](const Bytes&, bool) { return std::optional<Bytes>{}; });
  boost::asio::io_context io;
  // c-ares 1.18 doubles the timeout for each round over the servers: 100 + 200 ms.
  Resolver resolver(io, options_for(server, 100ms, 2));
  const auto start = std::chrono::steady_clock::now();
  auto r = txt(resolver, io, "silent.example");
  const auto elapsed = std::chrono::steady_clock::now() - start;
  CHECK(r.status == Status::temp_fail);
  CHECK(r.error == "timeout");
  CHECK(r.cause == Cause::timeout);
  CHECK(elapsed >= 250ms);
  CHECK(elapsed < 1500ms);
  CHECK(server.udp_queries == 2);
}

TEST_CASE("a nameserver that refuses connections is temp_fail at once") {
  // Bind a port, then close it: nothing listens there any more.
  std::uint16_t port = 0;
  {
    DnsTestServer probe;
    port = probe.port();
  }
  boost::asio::io_context io;
  ResolverOptions o;
  o.nameservers = {"127.0.0.1:" + std::to_string(port)};
  o.timeout = 2000ms;
  o.tries = 2;
  Resolver resolver(io, o);
  const auto start = std::chrono::steady_clock::now();
  auto r = txt(resolver, io, "x.example");
  CHECK(r.status == Status::temp_fail);
  CHECK(r.error == "connection refused");
  // The ICMP error ends the tries; no waiting for the timeout.
  CHECK(std::chrono::steady_clock::now() - start < 1000ms);
}

TEST_CASE("an answer that does not parse is temp_fail \"malformed answer\"") {
  DnsTestServer server;
  server.set_handler(
      [](const Bytes& query, bool) -> std::optional<Bytes> { return make_broken_reply(query); });
  boost::asio::io_context io;
  Resolver resolver(io, options_for(server));
  auto r = txt(resolver, io, "broken.example");
  CHECK(r.status == Status::temp_fail);
  CHECK(r.error.rfind("malformed answer: ", 0) == 0);
}

TEST_CASE("CNAME chains are followed, within one answer and across queries") {
  DnsTestServer server;
  Zone zone;
  // The whole chain in one answer, plus a record for an unrelated name.
  zone.replies["_mta-sts.full.example. TXT"].answers = {
      "_mta-sts.full.example. 300 IN CNAME b.example.", "b.example. 300 IN CNAME c.example.",
      "evil.example. 300 IN TXT \"v=STSv1; id=evil\"",
      "c.example. 300 IN TXT \"v=STSv1; id=full\""};
  // A server that stops at the first target.
  zone.replies["_mta-sts.part.example. TXT"].answers = {
      "_mta-sts.part.example. 300 IN CNAME Target.Example."};
  zone.replies["target.example. TXT"].answers = {"target.example. 300 IN TXT \"v=STSv1; id=part\""};
  // Records of another type at the target are not what was asked for.
  zone.replies["_mta-sts.other.example. TXT"].answers = {
      "_mta-sts.other.example. 300 IN CNAME o.example.", "o.example. 300 IN A 192.0.2.1"};
  zone.replies["o.example. TXT"] = ReplySpec{};
  server.set_handler(zone.handler());
  boost::asio::io_context io;
  Resolver resolver(io, options_for(server));

  auto full = txt(resolver, io, "_mta-sts.full.example");
  CHECK(full.status == Status::ok);
  CHECK(full.records == std::vector<std::string>{"v=STSv1; id=full"});

  auto part = txt(resolver, io, "_mta-sts.part.example");
  CHECK(part.status == Status::ok);
  CHECK(part.records == std::vector<std::string>{"v=STSv1; id=part"});

  auto other = txt(resolver, io, "_mta-sts.other.example");
  CHECK(other.status == Status::no_data);
  CHECK(other.error == "NODATA");
}

TEST_CASE("CNAME loops and overlong chains are temp_fail") {
  DnsTestServer server;
  Zone zone;
  zone.replies["loop.example. TXT"].answers = {"loop.example. 300 IN CNAME l2.example.",
                                               "l2.example. 300 IN CNAME loop.example."};
  // A loop that only shows across two queries.
  zone.replies["x1.example. TXT"].answers = {"x1.example. 300 IN CNAME x2.example."};
  zone.replies["x2.example. TXT"].answers = {"x2.example. 300 IN CNAME x1.example."};
  // n0 -> n1 -> ... -> n9: nine hops, one at a time.
  for (int i = 0; i < 10; ++i) {
    const std::string n = "n" + std::to_string(i) + ".example.";
    zone.replies[n + " TXT"].answers = {n + " 300 IN CNAME n" + std::to_string(i + 1) +
                                        ".example."};
  }
  // m0 -> ... -> m8: exactly eight hops, then the record.
  for (int i = 0; i < 8; ++i) {
    const std::string n = "m" + std::to_string(i) + ".example.";
    zone.replies[n + " TXT"].answers = {n + " 300 IN CNAME m" + std::to_string(i + 1) +
                                        ".example."};
  }
  zone.replies["m8.example. TXT"].answers = {"m8.example. 300 IN TXT \"end\""};
  server.set_handler(zone.handler());
  boost::asio::io_context io;
  Resolver resolver(io, options_for(server));

  auto loop = txt(resolver, io, "loop.example");
  CHECK(loop.status == Status::temp_fail);
  CHECK(loop.error == "CNAME loop at loop.example");
  auto across = txt(resolver, io, "x1.example");
  CHECK(across.status == Status::temp_fail);
  CHECK(across.error == "CNAME loop at x1.example");
  auto longer = txt(resolver, io, "n0.example");
  CHECK(longer.status == Status::temp_fail);
  CHECK(longer.error == "CNAME chain too long");
  auto eight = txt(resolver, io, "m0.example");
  CHECK(eight.status == Status::ok);
  CHECK(eight.records == std::vector<std::string>{"end"});
}

TEST_CASE("a truncated UDP answer is retried over TCP") {
  DnsTestServer server;
  server.set_handler([](const Bytes& query, bool tcp) -> std::optional<Bytes> {
    ReplySpec spec;
    if (!tcp) {
      spec.tc = true;
      return make_reply(query, spec);
    }
    for (int i = 0; i < 12; ++i) {
      spec.answers.push_back("tc.example. 300 IN TXT \"" + std::string(200, 'a' + i) + "\"");
    }
    return make_reply(query, spec);
  });
  boost::asio::io_context io;
  Resolver resolver(io, options_for(server));
  auto r = txt(resolver, io, "tc.example");
  CHECK(r.status == Status::ok);
  REQUIRE(r.records.size() == 12);
  CHECK(r.records[11] == std::string(200, 'l'));
  CHECK(server.udp_queries >= 1);
  CHECK(server.tcp_queries >= 1);
}

TEST_CASE("A and AAAA together") {
  DnsTestServer server;
  Zone zone;
  zone.replies["both.example. A"].answers = {"both.example. 300 IN A 192.0.2.1",
                                             "both.example. 300 IN A 192.0.2.2"};
  zone.replies["both.example. AAAA"].answers = {"both.example. 300 IN AAAA 2001:db8::1"};
  zone.replies["v4.example. A"].answers = {"v4.example. 300 IN A 198.51.100.7"};
  zone.replies["v4.example. AAAA"] = ReplySpec{};
  zone.replies["none.example. A"] = ReplySpec{};
  zone.replies["none.example. AAAA"] = ReplySpec{};
  zone.replies["half.example. A"].rcode = LDNS_RCODE_SERVFAIL;
  zone.replies["half.example. AAAA"] = ReplySpec{};
  server.set_handler(zone.handler());
  boost::asio::io_context io;
  Resolver resolver(io, options_for(server));
  auto addresses = [&](const std::string& name) {
    return run_one<AddressResult>(io, [&](auto cb) { resolver.query_addresses(name, cb); });
  };

  auto both = addresses("both.example");
  CHECK(both.status == Status::ok);
  CHECK(both.addresses == std::vector<std::string>{"192.0.2.1", "192.0.2.2", "2001:db8::1"});
  auto v4 = addresses("v4.example");
  CHECK(v4.status == Status::ok);
  CHECK(v4.addresses == std::vector<std::string>{"198.51.100.7"});
  auto none = addresses("none.example");
  CHECK(none.status == Status::no_data);
  CHECK(none.error == "NODATA");
  auto half = addresses("half.example");
  CHECK(half.status == Status::temp_fail);
  CHECK(half.error == "A: SERVFAIL from server");
  CHECK(half.cause == Cause::servfail);
  auto nx = addresses("nx.example");
  CHECK(nx.status == Status::no_data);
  CHECK(nx.error == "NXDOMAIN");
}

TEST_CASE("MX: sorted by preference, lower-case, no trailing dot; null MX") {
  DnsTestServer server;
  Zone zone;
  zone.replies["example.com. MX"].answers = {
      "example.com. 300 IN MX 20 Backup.Example.COM.", "example.com. 300 IN MX 10 mx2.example.com.",
      "example.com. 300 IN MX 10 MX1.example.com.", "example.com. 300 IN MX 10 mx1.example.com."};
  zone.replies["nomail.example. MX"].answers = {"nomail.example. 300 IN MX 0 ."};
  server.set_handler(zone.handler());
  boost::asio::io_context io;
  Resolver resolver(io, options_for(server));
  auto mx = [&](const std::string& name) {
    return run_one<MxResult>(io, [&](auto cb) { resolver.query_mx(name, cb); });
  };

  auto r = mx("example.com");
  CHECK(r.status == Status::ok);
  REQUIRE(r.hosts.size() == 3);
  CHECK(r.hosts[0].preference == 10);
  CHECK(r.hosts[0].host == "mx1.example.com");
  CHECK(r.hosts[1].host == "mx2.example.com");
  CHECK(r.hosts[2].preference == 20);
  CHECK(r.hosts[2].host == "backup.example.com");

  // RFC 7505: the domain accepts no mail.
  auto null_mx = mx("nomail.example");
  CHECK(null_mx.status == Status::no_data);
  CHECK(null_mx.error == "null MX");
  CHECK(null_mx.hosts.empty());
}

TEST_CASE("query_raw sets AD and DO, returns the message and reads the AD bit") {
  DnsTestServer server;
  std::optional<Question> seen;
  server.set_handler([&](const Bytes& query, bool) -> std::optional<Bytes> {
    seen = question_of(query);
    ReplySpec spec;
    if (seen->name == "_25._tcp.mx.example.") {
      spec.ad = true;
      spec.answers = {
          "_25._tcp.mx.example. 300 IN TLSA 3 1 1 "
          "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"};
    } else if (seen->name == "insecure.example.") {
      spec.answers = {"insecure.example. 300 IN TLSA 3 1 1 00"};
    } else if (seen->name == "fail.example.") {
      spec.rcode = LDNS_RCODE_SERVFAIL;
    } else {
      spec.rcode = LDNS_RCODE_NXDOMAIN;
      spec.ad = true;
    }
    return make_reply(query, spec);
  });
  boost::asio::io_context io;
  Resolver resolver(io, options_for(server));
  auto raw = [&](const std::string& name) {
    return run_one<RawResult>(io, [&](auto cb) { resolver.query_raw(name, 52, cb); });
  };

  auto secure = raw("_25._tcp.mx.example");
  REQUIRE(seen);
  CHECK(seen->ad);
  CHECK(seen->dnssec_ok);
  CHECK(seen->udp_size == 1232);
  CHECK(seen->type == LDNS_RR_TYPE_TLSA);
  CHECK(secure.status == Status::ok);
  CHECK(secure.authenticated);
  ldns_pkt* pkt = nullptr;
  REQUIRE(ldns_wire2pkt(&pkt, secure.message.data(), secure.message.size()) == LDNS_STATUS_OK);
  CHECK(ldns_rr_list_rr_count(ldns_pkt_answer(pkt)) == 1);
  ldns_pkt_free(pkt);

  auto insecure = raw("insecure.example");
  CHECK(insecure.status == Status::ok);
  CHECK_FALSE(insecure.authenticated);

  auto nx = raw("gone.example");
  CHECK(nx.status == Status::no_data);
  CHECK(nx.error == "NXDOMAIN");
  CHECK(nx.authenticated);
  CHECK_FALSE(nx.message.empty());

  auto fail = raw("fail.example");
  CHECK(fail.status == Status::temp_fail);
  CHECK(fail.error == "SERVFAIL from server");
  CHECK(fail.message.empty());
}

TEST_CASE("invalid names fail without a query, still asynchronously") {
  DnsTestServer server;
  boost::asio::io_context io;
  Resolver resolver(io, options_for(server));
  for (const std::string& name : {std::string(""), std::string("a..b"), std::string(64, 'a') + ".x",
                                  std::string(300, 'a'), std::string("a\0b", 3)}) {
    bool ran = false;
    resolver.query_txt(name, [&](TxtResult r) {
      ran = true;
      CHECK(r.status == Status::temp_fail);
      CHECK(r.error == "invalid name");
    });
    CHECK_FALSE(ran);
    io.restart();
    io.run();
    CHECK(ran);
  }
  auto bad_type =
      run_one<RawResult>(io, [&](auto cb) { resolver.query_raw("ok.example", 70000, cb); });
  CHECK(bad_type.status == Status::temp_fail);
  CHECK(server.udp_queries == 0);
}

TEST_CASE("destroying the Resolver completes pending queries with \"shutdown\"") {
  DnsTestServer server;
  server.set_handler([](const Bytes&, bool) { return std::optional<Bytes>{}; });
  boost::asio::io_context io;
  int txt_calls = 0, addr_calls = 0, raw_calls = 0;
  {
    Resolver resolver(io, options_for(server, 5000ms, 1));
    resolver.query_txt("a.example", [&](TxtResult r) {
      ++txt_calls;
      CHECK(r.status == Status::temp_fail);
      CHECK(r.error == "shutdown");
    });
    resolver.query_addresses("b.example", [&](AddressResult r) {
      ++addr_calls;
      CHECK(r.status == Status::temp_fail);
      CHECK(r.error == "shutdown");
    });
    resolver.query_raw("c.example", 52, [&](RawResult r) {
      ++raw_calls;
      CHECK(r.error == "shutdown");
    });
    CHECK(resolver.pending() == 3);
    // Let the queries go out, then give up on them.
    io.run_for(50ms);
    CHECK(txt_calls == 0);
  }
  io.restart();
  io.run();
  CHECK(txt_calls == 1);
  CHECK(addr_calls == 1);
  CHECK(raw_calls == 1);
}

TEST_CASE("a callback may destroy the Resolver") {
  DnsTestServer server;
  Zone zone;
  zone.replies["a.example. TXT"].answers = {"a.example. 300 IN TXT \"x\""};
  server.set_handler(zone.handler());
  boost::asio::io_context io;
  auto resolver = std::make_unique<Resolver>(io, options_for(server));
  int calls = 0;
  resolver->query_txt("a.example", [&](TxtResult r) {
    ++calls;
    CHECK(r.status == Status::ok);
    resolver.reset();
  });
  resolver->query_txt("silent.example", [&](TxtResult) { ++calls; });
  io.run();
  CHECK(calls == 2);
}

TEST_CASE("nameserver entries are validated") {
  boost::asio::io_context io;
  for (const char* good : {"127.0.0.1", "127.0.0.1:5353", "::1", "[::1]:53", "[2001:db8::1]"}) {
    ResolverOptions o;
    o.nameservers = {good};
    CHECK_NOTHROW(Resolver(io, o));
  }
  for (const char* bad :
       {"", "localhost", "127.0.0.1:", "127.0.0.1:0", "127.0.0.1:65536", "127.0.0.1:53x", "[::1",
        "[::1]53", "[127.0.0.1]:53", "1.2.3", "fe80::1%eth0"}) {
    ResolverOptions o;
    o.nameservers = {"127.0.0.1", bad};
    try {
      Resolver r(io, o);
      FAIL("accepted " << bad);
    } catch (const std::invalid_argument& e) {
      CHECK(std::string(e.what()).find("\"" + std::string(bad) + "\"") != std::string::npos);
    }
  }
  ResolverOptions zero;
  zero.tries = 0;
  CHECK_THROWS_AS(Resolver(io, zero), std::invalid_argument);
}

TEST_CASE("query_secure: MX and TLSA records with their TTL and DNSSEC status") {
  const std::string hash = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
  const std::string soa = "example. 900 IN SOA ns.example. host.example. 1 3600 600 86400 120";
  Zone zone;
  zone.replies["secure.example. MX"] = {LDNS_RCODE_NOERROR,
                                        {"secure.example. 600 IN MX 20 MX2.secure.example.",
                                         "secure.example. 300 IN MX 10 mx1.secure.example."},
                                        {},
                                        true};
  zone.replies["_25._tcp.mx1.secure.example. TLSA"] = {
      LDNS_RCODE_NOERROR, {"_25._tcp.mx1.secure.example. 3600 IN TLSA 3 1 1 " + hash}, {}, true};
  // A CNAME to the TLSA records elsewhere: the smaller TTL of the two counts.
  zone.replies["_25._tcp.alias.example. TLSA"] = {
      LDNS_RCODE_NOERROR,
      {"_25._tcp.alias.example. 60 IN CNAME _25._tcp.mx1.secure.example.",
       "_25._tcp.mx1.secure.example. 3600 IN TLSA 2 0 1 " + hash},
      {},
      true};
  zone.replies["_25._tcp.none.example. TLSA"] = {LDNS_RCODE_NOERROR, {}, {soa}, true};
  zone.replies["_25._tcp.plain.example. TLSA"] = {
      LDNS_RCODE_NOERROR, {"_25._tcp.plain.example. 300 IN TLSA 3 1 1 " + hash}, {}, false};
  zone.replies["bogus.example. MX"] = {LDNS_RCODE_SERVFAIL, {}, {}, false};
  DnsTestServer server;
  std::vector<Question> seen;
  auto handler = zone.handler();
  server.set_handler([&](const Bytes& query, bool tcp) {
    if (auto q = question_of(query)) seen.push_back(*q);
    return handler(query, tcp);
  });
  boost::asio::io_context io;
  Resolver resolver(io, options_for(server));
  auto secure = [&](const std::string& name, int type) {
    return run_one<SecureResult>(io, [&](auto cb) { resolver.query_secure(name, type, cb); });
  };

  auto mx = secure("secure.example", LDNS_RR_TYPE_MX);
  REQUIRE(!seen.empty());
  CHECK(seen.back().ad);
  CHECK(seen.back().dnssec_ok);
  CHECK(mx.status == Status::ok);
  CHECK(mx.authenticated);
  CHECK(mx.ttl == 300);
  REQUIRE(mx.records.size() == 2);
  CHECK(mx.records[0].data == "mx2.secure.example");
  CHECK(mx.records[0].preference == 20);

  auto tlsa = secure("_25._tcp.mx1.secure.example", LDNS_RR_TYPE_TLSA);
  CHECK(tlsa.status == Status::ok);
  CHECK(tlsa.authenticated);
  CHECK(tlsa.ttl == 3600);
  REQUIRE(tlsa.records.size() == 1);
  REQUIRE(tlsa.records[0].data.size() == 3 + 32);
  CHECK(tlsa.records[0].data.substr(0, 3) == std::string("\x03\x01\x01", 3));
  CHECK(static_cast<unsigned char>(tlsa.records[0].data[3]) == 0x01);

  auto alias = secure("_25._tcp.alias.example", LDNS_RR_TYPE_TLSA);
  CHECK(alias.status == Status::ok);
  CHECK(alias.ttl == 60);
  REQUIRE(alias.records.size() == 1);
  CHECK(alias.records[0].data[0] == 2);

  // RFC 2308: NODATA lives min(SOA TTL, SOA MINIMUM) = 120 s.
  auto none = secure("_25._tcp.none.example", LDNS_RR_TYPE_TLSA);
  CHECK(none.status == Status::no_data);
  CHECK(none.authenticated);
  CHECK(none.ttl == 120);

  auto plain = secure("_25._tcp.plain.example", LDNS_RR_TYPE_TLSA);
  CHECK(plain.status == Status::ok);
  CHECK_FALSE(plain.authenticated);

  auto bogus = secure("bogus.example", LDNS_RR_TYPE_MX);
  CHECK(bogus.status == Status::temp_fail);
  CHECK(bogus.error == "SERVFAIL from server");
  CHECK_FALSE(bogus.authenticated);
}

TEST_CASE("SERVFAIL, REFUSED or NOTIMP from one nameserver: the next one is asked") {
  DnsTestServer broken, good;
  Zone bad_zone;
  bad_zone.replies["servfail.example. TXT"].rcode = LDNS_RCODE_SERVFAIL;
  bad_zone.replies["refused.example. TXT"].rcode = LDNS_RCODE_REFUSED;
  bad_zone.replies["notimp.example. TXT"].rcode = LDNS_RCODE_NOTIMPL;
  bad_zone.replies["gone.example. TXT"].rcode = LDNS_RCODE_SERVFAIL;
  broken.set_handler(bad_zone.handler());
  Zone good_zone;
  for (const char* name : {"servfail.example.", "refused.example.", "notimp.example."}) {
    good_zone.replies[std::string(name) + " TXT"].answers = {std::string(name) +
                                                             " 300 IN TXT \"v=STSv1; id=1\""};
  }
  good_zone.replies["gone.example. TXT"].rcode = LDNS_RCODE_SERVFAIL;
  good.set_handler(good_zone.handler());
  boost::asio::io_context io;
  ResolverOptions o = options_for(broken);
  o.nameservers.push_back(good.address());
  Resolver resolver(io, o);

  for (const char* name : {"servfail.example", "refused.example", "notimp.example"}) {
    INFO(name);
    auto r = txt(resolver, io, name);
    CHECK(r.status == Status::ok);
    REQUIRE(r.records.size() == 1);
    CHECK(r.records[0] == "v=STSv1; id=1");
  }
  CHECK(broken.udp_queries == 3);
  CHECK(good.udp_queries == 3);
  // Every server fails: the last answer stands, each server asked once.
  auto gone = txt(resolver, io, "gone.example");
  CHECK(gone.status == Status::temp_fail);
  CHECK(gone.error == "SERVFAIL from server");
  CHECK(broken.udp_queries == 4);
  CHECK(good.udp_queries == 4);
  // NXDOMAIN is the zone's answer, not the server's failure: not asked again.
  auto missing = txt(resolver, io, "missing.example");
  CHECK(missing.status == Status::no_data);
  CHECK(broken.udp_queries == 5);
  CHECK(good.udp_queries == 4);
}

TEST_CASE("a silent first nameserver: the next one answers within the first one's tries") {
  DnsTestServer silent, good;
  silent.set_handler([](const Bytes&, bool) { return std::optional<Bytes>{}; });
  Zone zone;
  zone.replies["x.example. TXT"].answers = {"x.example. 300 IN TXT \"v=STSv1; id=2\""};
  good.set_handler(zone.handler());
  boost::asio::io_context io;
  ResolverOptions o = options_for(silent, 200ms, 2);
  o.nameservers.push_back(good.address());
  Resolver resolver(io, o);
  auto r = txt(resolver, io, "x.example");
  CHECK(r.status == Status::ok);
  CHECK(silent.udp_queries >= 1);
  CHECK(good.udp_queries == 1);
}

TEST_CASE("DNSSEC queries: SERVFAIL (bogus) stands, REFUSED still moves on") {
  // A validating resolver's SERVFAIL means the data is bogus (RFC 4035 §5.5);
  // the next server, which may not validate, must not turn it into an answer.
  DnsTestServer validating, other;
  Zone first;
  first.replies["bogus.example. MX"].rcode = LDNS_RCODE_SERVFAIL;
  first.replies["refused.example. MX"].rcode = LDNS_RCODE_REFUSED;
  validating.set_handler(first.handler());
  Zone second;
  second.replies["bogus.example. MX"] = {
      LDNS_RCODE_NOERROR, {"bogus.example. 300 IN MX 10 mx.bogus.example."}, {}, false};
  second.replies["refused.example. MX"] = {
      LDNS_RCODE_NOERROR, {"refused.example. 300 IN MX 10 mx.refused.example."}, {}, true};
  other.set_handler(second.handler());
  boost::asio::io_context io;
  ResolverOptions o = options_for(validating);
  o.nameservers.push_back(other.address());
  Resolver resolver(io, o);
  auto secure = [&](const std::string& name) {
    return run_one<SecureResult>(
        io, [&](auto cb) { resolver.query_secure(name, LDNS_RR_TYPE_MX, cb); });
  };
  auto bogus = secure("bogus.example");
  CHECK(bogus.status == Status::temp_fail);
  CHECK(bogus.error == "SERVFAIL from server");
  CHECK(other.udp_queries == 0);
  auto refused = secure("refused.example");
  CHECK(refused.status == Status::ok);
  CHECK(refused.authenticated);
  CHECK(other.udp_queries == 1);
  // The same SERVFAIL on a plain (MTA-STS) query moves on.
  auto plain = run_one<MxResult>(io, [&](auto cb) { resolver.query_mx("bogus.example", cb); });
  CHECK(plain.status == Status::ok);
  CHECK(other.udp_queries == 2);
}
