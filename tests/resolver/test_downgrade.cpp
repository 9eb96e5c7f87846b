// The downgrade alarm (issue 14): what counts as weaker, the expiry margins,
// and the lifecycle raising and clearing alarms as a protected domain's
// refreshes fail, its TXT record goes, its policy weakens or DANE turns
// insecure. Fake DNS, HTTPS and time.
#include <doctest/doctest.h>

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "lifecycle_world.hpp"
#include "resolver/dane_resolver.hpp"
#include "resolver/downgrade.hpp"
#include "resolver/policy_resolver.hpp"
#include "sts/query_key.hpp"

namespace {

using namespace mtasts;
using namespace mtasts::resolver;
using namespace mtasts::resolver::testing;
using namespace std::chrono_literals;

sts::Policy policy(sts::Mode mode, std::vector<std::string> mx, std::uint32_t max_age = 604800) {
  sts::Policy p;
  p.mode = mode;
  p.mx = std::move(mx);
  p.max_age = max_age;
  return p;
}

struct Alarms final : Observer {
  std::vector<AlarmKind> raised;
  void alarm(AlarmKind kind) override { raised.push_back(kind); }
};

LifecycleSetup setup(bool with_dane) {
  LifecycleSetup setup;
  setup.settings.cache_grace = 60;
  setup.settings.retry_interval = 60;
  if (with_dane) {
    setup.dane = DaneSettings{};
    setup.dane->min_ttl = 60;
    setup.dane->max_ttl = 60;
  }
  return setup;
}

struct World : LifecycleWorld {
  Alarms seen;
  explicit World(bool with_dane = false) : LifecycleWorld(setup(with_dane)) {
    policies->set_observer(&seen);
  }
  void publish(const std::string& domain, const std::string& id, const std::string& mode,
               const std::string& mx, std::uint32_t max_age = 10 * 86400) {
    dns.publish(domain, id);
    https.serve(domain, policy_body(mode, mx, max_age));
  }
  // A query past cache_grace: answered from the cache, re-checked behind it.
  void revalidate(const std::string& domain, std::int64_t after_s = 61) {
    time.advance_s(after_s);
    query(domain);
    time.advance(10ms);
  }
  bool alarmed(const std::string& subject, AlarmKind kind) const {
    return policies->alarms().has(subject, kind);
  }
};

}  // namespace

TEST_CASE("weakening: what makes a new policy protect less than an enforce one") {
  const auto enforce = policy(sts::Mode::enforce, {"mx1.a.test", "mx2.a.test"}, 31557600);
  CHECK(weakening(enforce, enforce).empty());
  CHECK(weakening(enforce, policy(sts::Mode::enforce, {"mx1.a.test", "mx2.a.test", "mx3.a.test"},
                                  31557600))
            .empty());  // more patterns: still every host authenticated
  CHECK(weakening(enforce, policy(sts::Mode::testing, enforce.mx, 31557600)) ==
        "mode enforce -> testing");
  CHECK(weakening(enforce, policy(sts::Mode::none, {}, 31557600)) == "mode enforce -> none");
  CHECK(weakening(enforce, policy(sts::Mode::enforce, {"mx1.a.test", "evil.test"}, 31557600)) ==
        "mx dropped: mx2.a.test");
  CHECK(weakening(enforce, policy(sts::Mode::enforce, enforce.mx, 3600)) ==
        "max_age 31557600 -> 3600");
  // Shorter but still weeks: no alarm.
  CHECK(weakening(enforce, policy(sts::Mode::enforce, enforce.mx, 1209600)).empty());
  CHECK(weakening(enforce, policy(sts::Mode::testing, {"evil.test"}, 60)) ==
        "mode enforce -> testing; max_age 31557600 -> 60");
  // Only an enforce policy protects: testing to none is no downgrade alarm.
  CHECK(weakening(policy(sts::Mode::testing, {"mx.a.test"}), policy(sts::Mode::none, {})).empty());
}

TEST_CASE("expiry_stage: a week, then a day") {
  AlarmSettings s;
  CHECK(expiry_stage(s, 8 * 86400) == 0);
  CHECK(expiry_stage(s, 7 * 86400) == 1);
  CHECK(expiry_stage(s, 2 * 86400) == 1);
  CHECK(expiry_stage(s, 86400) == 2);
  CHECK(expiry_stage(s, 0) == 2);
  s.expiry_margins = {3600, 86400 * 3};  // any order
  CHECK(expiry_stage(s, 86400) == 1);
  CHECK(expiry_stage(s, 60) == 2);
  s.expiry_margins.clear();
  CHECK(expiry_stage(s, 0) == 0);
}

TEST_CASE("alarm: a weaker policy is raised once and clears when enforce comes back") {
  World w;
  w.publish("a.test", "1", "enforce", "mx.a.test");
  w.query("a.test");
  w.publish("a.test", "2", "testing", "mx.a.test");
  w.revalidate("a.test");
  CHECK(w.alarmed("a.test", AlarmKind::weaker_policy));
  CHECK(w.seen.raised == std::vector<AlarmKind>{AlarmKind::weaker_policy});
  const auto listed = w.policies->alarms().list();
  REQUIRE(listed.size() == 1);
  CHECK(listed[0].before == "enforce id=1 max_age=864000");
  CHECK(listed[0].after == "testing max_age=864000");
  CHECK(listed[0].reason == "mode enforce -> testing");

  w.publish("a.test", "3", "enforce", "mx.a.test");
  w.revalidate("a.test");
  CHECK_FALSE(w.alarmed("a.test", AlarmKind::weaker_policy));
  CHECK(w.policies->alarms().size() == 0);
}

TEST_CASE("alarm: the TXT record disappears under an enforce policy") {
  World w;
  w.publish("a.test", "1", "enforce", "mx.a.test");
  w.query("a.test");
  w.dns.unpublish("a.test");
  w.revalidate("a.test");
  CHECK(w.alarmed("a.test", AlarmKind::txt_removed));
  CHECK(w.query("a.test").rfind("OK secure", 0) == 0);  // §3.3: the policy still applies
  w.dns.publish("a.test", "1");
  w.revalidate("a.test");
  CHECK_FALSE(w.alarmed("a.test", AlarmKind::txt_removed));
  CHECK(w.seen.raised == std::vector<AlarmKind>{AlarmKind::txt_removed});
}

TEST_CASE("alarm: failing refreshes near expiry warn at each margin, once each") {
  World w;
  w.publish("a.test", "1", "enforce", "mx.a.test", 10 * 86400);
  w.query("a.test");
  w.dns.publish("a.test", "2");
  w.https.refuse("a.test");
  w.revalidate("a.test", 86400);  // 9 days left: outside the week
  CHECK_FALSE(w.alarmed("a.test", AlarmKind::expiring));
  w.revalidate("a.test", 3 * 86400);  // 6 days left
  CHECK(w.alarmed("a.test", AlarmKind::expiring));
  w.revalidate("a.test", 86400);  // 5 days left: the same stage, quiet
  CHECK(w.seen.raised.size() == 1);
  w.revalidate("a.test", 4 * 86400 + 3600);  // under a day left
  CHECK(w.seen.raised == std::vector<AlarmKind>{AlarmKind::expiring, AlarmKind::expiring});
  REQUIRE(w.policies->alarms().list().size() == 1);
  CHECK(w.policies->alarms().list()[0].stage == 2);

  // The policy host answers again: the alarm clears.
  w.https.serve("a.test", policy_body("enforce", "mx.a.test", 10 * 86400));
  w.revalidate("a.test");
  CHECK_FALSE(w.alarmed("a.test", AlarmKind::expiring));
}

TEST_CASE("alarm: DANE turning insecure for a destination it protected") {
  World w(/*with_dane=*/true);
  w.dns.sign_mx("a.test", {"mx1.a.test"}, {true});
  CHECK(w.query("a.test") == "OK dane-only");
  w.dns.sign_mx("a.test", {"mx1.a.test"}, {false});  // the TLSA record is gone
  w.time.advance_s(61);                              // past the DANE result's TTL: looked up again
  CHECK(w.query("a.test") == "NOTFOUND ");
  CHECK(w.alarmed("a.test", AlarmKind::dane_insecure));
  CHECK(w.seen.raised == std::vector<AlarmKind>{AlarmKind::dane_insecure});
  w.dns.sign_mx("a.test", {"mx1.a.test"}, {true});
  w.time.advance_s(61);
  CHECK(w.query("a.test") == "OK dane-only");
  CHECK_FALSE(w.alarmed("a.test", AlarmKind::dane_insecure));
}
