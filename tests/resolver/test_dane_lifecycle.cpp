// DANE first (RFC 8461 §2; RFC 7672) through the lifecycle: PolicyResolver with
// DaneResolver on fake DNSSEC answers, every verdict against MTA-STS, the
// failure modes and dane.on_failure, caching and deadlines. No sockets.
#include <doctest/doctest.h>

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "lifecycle_world.hpp"
#include "resolver/dane_resolver.hpp"
#include "resolver/policy_resolver.hpp"
#include "sts/query_key.hpp"

namespace {

using namespace mtasts;
using namespace mtasts::resolver;
using namespace mtasts::resolver::testing;
using namespace std::chrono_literals;

DaneSettings dane_settings(dane::OnFailure on_failure) {
  DaneSettings settings;
  settings.on_failure = on_failure;
  return settings;
}

struct DaneWorld : LifecycleWorld {
  explicit DaneWorld(dane::OnFailure on_failure = dane::OnFailure::temp)
      : LifecycleWorld({{}, false, dane_settings(on_failure)}) {}
  void publish_sts(const std::string& domain, const std::string& mode = "enforce") {
    dns.publish(domain, "1");
    https.serve(domain, policy_body(mode, "*." + domain));
  }
};

const std::string kSecure = "OK secure match=.a.test servername=hostname";

}  // namespace

TEST_CASE("every MX host DANE-authenticated: dane-only, whatever MTA-STS says") {
  DaneWorld w;
  w.dns.sign_mx("a.test", {"mx1.a.test", "mx2.a.test"}, {true, true});
  w.publish_sts("a.test");
  CHECK(w.query("a.test") == "OK dane-only");
  CHECK(w.policies->stats().dane_only == 1);
}

TEST_CASE("partial DANE: an enforced policy answers, otherwise OK dane") {
  SUBCASE("enforce") {
    DaneWorld w;
    w.dns.sign_mx("a.test", {"mx1.a.test", "mx2.a.test"}, {true, false});
    w.publish_sts("a.test");
    CHECK(w.query("a.test") == kSecure);
  }
  SUBCASE("testing") {
    DaneWorld w;
    w.dns.sign_mx("a.test", {"mx1.a.test", "mx2.a.test"}, {true, false});
    w.publish_sts("a.test", "testing");
    CHECK(w.query("a.test") == "OK dane");
  }
  SUBCASE("no policy") {
    DaneWorld w;
    w.dns.sign_mx("a.test", {"mx1.a.test", "mx2.a.test"}, {true, false});
    CHECK(w.query("a.test") == "OK dane");
  }
}

TEST_CASE("no TLSA anywhere: MTA-STS decides, and the cold STS discovery ran alongside") {
  DaneWorld w;
  w.dns.sign_mx("a.test", {"mx1.a.test"}, {false});
  w.publish_sts("a.test");
  CHECK(w.query("a.test") == kSecure);
  CHECK(w.dns.asked("_mta-sts.a.test") == 1);
}

TEST_CASE("DANE lookups failing, nothing cached: dane.on_failure decides") {
  SUBCASE("temp defers") {
    DaneWorld w(dane::OnFailure::temp);
    w.dns.fail_mx("a.test");
    CHECK(w.query("a.test") == "TEMP ");
    CHECK(w.policies->stats().dane_temp == 1);
  }
  SUBCASE("sts lets MTA-STS decide") {
    DaneWorld w(dane::OnFailure::sts);
    w.dns.fail_mx("a.test");
    CHECK(w.query("a.test") == "NOTFOUND ");
  }
  SUBCASE("a cached enforced policy authenticates anyway") {
    DaneWorld w(dane::OnFailure::temp);
    w.publish_sts("a.test");
    w.dns.sign_mx("a.test", {"mx1.a.test"}, {false});
    CHECK(w.query("a.test") == kSecure);
    w.dns.fail_mx("a.test");
    w.time.advance_s(3700);  // the DANE result (TTL bounds) has expired
    CHECK(w.query("a.test") == kSecure);
  }
}

TEST_CASE("a DANE result is cached: the next query asks no DNS") {
  DaneWorld w;
  w.dns.sign_mx("a.test", {"mx1.a.test"}, {true});
  CHECK(w.query("a.test") == "OK dane-only");
  auto again = w.ask("a.test");
  CHECK(again->value_or("") == "OK dane-only");  // synchronously
  CHECK(w.dns.asked(FakeDns::mx_query("a.test")) == 1);
}

TEST_CASE("DANE single flight and deadline: a hanging MX lookup ends at the zone timeout") {
  DaneWorld w(dane::OnFailure::temp);
  w.dns.sign_mx("a.test", {"mx1.a.test"}, {true});
  w.dns.hang(FakeDns::mx_query("a.test"));
  auto first = w.ask("a.test");
  auto second = w.ask("a.test");
  w.time.advance(2999ms);
  CHECK_FALSE(first->has_value());
  w.time.advance(1ms);
  CHECK(first->value_or("") == "TEMP ");
  CHECK(second->value_or("") == "TEMP ");
  CHECK(w.dns.asked(FakeDns::mx_query("a.test")) == 1);
  // The lookup carries on; its result serves the next query.
  w.dns.release(FakeDns::mx_query("a.test"));
  w.time.advance(10ms);
  CHECK(w.query("a.test") == "OK dane-only");
}

TEST_CASE("[host]:port next hops: no MX lookup, TLSA at _port._tcp.host") {
  DaneWorld w;
  w.dns.sign_mx("relay.test", {"smtp.relay.test"}, {true});
  CHECK(w.query("[smtp.relay.test]:25") == "OK dane-only");
  CHECK(w.dns.asked(FakeDns::mx_query("smtp.relay.test")) == 0);
}
