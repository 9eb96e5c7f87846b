#include <doctest/doctest.h>

#include "dane/verdict.hpp"

using namespace mtasts::dane;
using State = HostTlsa::State;

namespace {

HostTlsa host(const char* name, State state) {
  HostTlsa h;
  h.host = name;
  h.state = state;
  if (state == State::usable) h.records.push_back({3, 1, 1, std::string(32, 'x')});
  if (state == State::unusable) h.records.push_back({1, 1, 1, std::string(32, 'x')});
  return h;
}

Evidence mx(bool secure, std::initializer_list<HostTlsa> hosts) {
  Evidence e;
  e.mx_secure = secure;
  e.hosts = hosts;
  return e;
}

}  // namespace

TEST_CASE("every MX host usable behind a secure MX RRset: dane-only") {
  CHECK(evaluate(mx(true, {host("a", State::usable), host("b", State::usable)})) ==
        Verdict::dane_only);
  CHECK(evaluate(mx(true, {host("a", State::usable)})) == Verdict::dane_only);
}

TEST_CASE("insecure MX RRset with usable TLSA: only opportunistic dane (RFC 7672 2.2.1)") {
  CHECK(evaluate(mx(false, {host("a", State::usable), host("b", State::usable)})) == Verdict::dane);
}

TEST_CASE("some hosts with TLSA, or only unusable records: dane") {
  CHECK(evaluate(mx(true, {host("a", State::usable), host("b", State::none)})) == Verdict::dane);
  CHECK(evaluate(mx(true, {host("a", State::unusable)})) == Verdict::dane);
  CHECK(evaluate(mx(true, {host("a", State::usable), host("b", State::insecure)})) ==
        Verdict::dane);
  CHECK(evaluate(mx(true, {host("a", State::usable), host("b", State::unusable)})) ==
        Verdict::dane);
}

TEST_CASE("no secure TLSA anywhere: none, MTA-STS decides") {
  CHECK(evaluate(mx(true, {host("a", State::none), host("b", State::none)})) == Verdict::none);
  CHECK(evaluate(mx(true, {host("a", State::insecure)})) == Verdict::none);
  CHECK(evaluate(mx(false, {host("a", State::insecure), host("b", State::none)})) == Verdict::none);
}

TEST_CASE("failed TLSA lookups") {
  // All failed: nothing is known.
  CHECK(evaluate(mx(true, {host("a", State::failed), host("b", State::failed)})) == Verdict::temp);
  // One broken MX next to answered ones: Postfix defers that host, not the domain.
  CHECK(evaluate(mx(true, {host("a", State::usable), host("b", State::failed)})) == Verdict::dane);
  CHECK(evaluate(mx(true, {host("a", State::none), host("b", State::failed)})) == Verdict::dane);
}

TEST_CASE("skipped MX hosts keep a domain from dane-only") {
  auto e = mx(true, {host("a", State::usable)});
  e.skipped = 3;
  CHECK(evaluate(e) == Verdict::dane);
}

TEST_CASE("null MX and no hosts: none") {
  Evidence e;
  e.mx_secure = true;
  e.null_mx = true;
  CHECK(evaluate(e) == Verdict::none);
  CHECK(evaluate(Evidence{}) == Verdict::none);
}

TEST_CASE("levels and summaries") {
  CHECK(level_of(Verdict::dane_only) == Level::dane_only);
  CHECK(level_of(Verdict::dane) == Level::dane);
  CHECK(level_of(Verdict::none) == Level::none);
  CHECK(to_string(Level::dane_only) == std::string_view("dane-only"));
  CHECK(parse_level("dane") == Level::dane);
  CHECK_FALSE(parse_level("DANE"));
  auto e = mx(true, {host("mx1.example", State::usable), host("mx2.example", State::none)});
  auto line = summarize(e);
  CHECK(line.find("MX secure") == 0);
  CHECK(line.find("mx1.example usable (3 1 1 ") != std::string::npos);
  CHECK(line.find("mx2.example none") != std::string::npos);
}
