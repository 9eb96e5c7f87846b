// The socketmap handler's counting against the real lifecycle on fake DNS,
// HTTPS and time: an answer that waited on a discovery lands in the wait
// histogram, one answered at once in the hit histogram, and every answer is
// counted by zone and kind.
#include <doctest/doctest.h>

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "../resolver/lifecycle_fakes.hpp"
#include "daemon/answer_metrics.hpp"
#include "daemon/policy_handler.hpp"
#include "metrics/registry.hpp"
#include "resolver/policy_resolver.hpp"

namespace {

using namespace mtasts;
using namespace mtasts::resolver::testing;
using namespace std::chrono_literals;

struct Handled {
  FakeTime time;
  FakeDns dns{time.timers};
  FakeHttps https{time.timers};
  std::unique_ptr<resolver::PolicyResolver> policies;
  metrics::Registry registry;
  std::unique_ptr<daemon::AnswerMetrics> answers;
  std::unique_ptr<daemon::PolicyHandler> handler;

  explicit Handled(bool with_metrics) {
    resolver::Zone fallback, strict;
    fallback.timeout = strict.timeout = 3000ms;
    strict.name = "strict";
    policies = std::make_unique<resolver::PolicyResolver>(
        time.timers, dns, https, time.wall, std::vector<resolver::Zone>{fallback, strict},
        resolver::ResolverSettings{});
    if (with_metrics)
      answers =
          std::make_unique<daemon::AnswerMetrics>(registry, daemon::zone_labels({"", "strict"}));
    handler = std::make_unique<daemon::PolicyHandler>(*policies, answers.get());
    dns.publish("a.test", "1");
    https.serve("a.test", policy_body("enforce", "mx.a.test"));
  }

  // The answer, and whether it came before handle() returned.
  std::pair<std::string, bool> ask(const std::string& zone, const std::string& key) {
    auto answer = std::make_shared<std::optional<std::string>>();
    handler->handle(zone, key, [answer](std::string_view text) { *answer = std::string(text); });
    const bool at_once = answer->has_value();
    for (int i = 0; i < 40 && !*answer; ++i) time.advance(100ms);
    REQUIRE(answer->has_value());
    return {**answer, at_once};
  }

  bool has(const std::string& line) {
    return registry.expose().find(line + "\n") != std::string::npos;
  }
};

const std::string kSecure = "OK secure match=mx.a.test servername=hostname";

}  // namespace

TEST_CASE("handler: waited and immediate answers timed apart, answers counted by zone and kind") {
  Handled h(true);
  CHECK(h.ask("postfix", "a.test") == std::pair<std::string, bool>{kSecure, false});
  CHECK(h.has("mtastsd_answer_wait_duration_seconds_count 1"));
  CHECK(h.has("mtastsd_answer_hit_duration_seconds_count 0"));
  for (int i = 0; i < 3; ++i) {
    CHECK(h.ask("strict", "a.test") == std::pair<std::string, bool>{kSecure, true});
  }
  CHECK(h.has("mtastsd_answer_hit_duration_seconds_count 3"));
  CHECK(h.has("mtastsd_answer_wait_duration_seconds_count 1"));
  CHECK(h.has("mtastsd_answers_total{zone=\"default_zone\",kind=\"secure\"} 1"));
  CHECK(h.has("mtastsd_answers_total{zone=\"strict\",kind=\"secure\"} 3"));
  // Keys that are not a domain: counted, never timed.
  CHECK(h.ask("strict", "bad..key") == std::pair<std::string, bool>{"NOTFOUND ", true});
  CHECK(h.ask("unknown-map", "[192.0.2.1]") == std::pair<std::string, bool>{"NOTFOUND ", true});
  CHECK(h.has("mtastsd_answers_total{zone=\"strict\",kind=\"notfound\"} 1"));
  CHECK(h.has("mtastsd_answers_total{zone=\"default_zone\",kind=\"notfound\"} 1"));
  CHECK(h.has("mtastsd_answer_hit_duration_seconds_count 3"));
}

TEST_CASE("handler: many queries waiting at once each get their own answer") {
  Handled h(true);
  h.dns.publish("b.test", "1");
  h.https.serve("b.test", policy_body("enforce", "mx.b.test"));
  std::vector<std::shared_ptr<std::optional<std::string>>> answers;
  for (int i = 0; i < 20; ++i) {
    auto answer = std::make_shared<std::optional<std::string>>();
    h.handler->handle("postfix", i % 2 == 0 ? "a.test" : "b.test",
                      [answer](std::string_view text) { *answer = std::string(text); });
    answers.push_back(answer);
  }
  for (int i = 0; i < 40; ++i) h.time.advance(100ms);
  for (int i = 0; i < 20; ++i) {
    REQUIRE(answers[i]->has_value());
    CHECK(**answers[i] == (i % 2 == 0 ? kSecure : "OK secure match=mx.b.test servername=hostname"));
  }
  CHECK(h.has("mtastsd_answer_wait_duration_seconds_count 20"));
  // The pooled slots are reused: a second round answers as well.
  CHECK(h.ask("postfix", "b.test").first == "OK secure match=mx.b.test servername=hostname");
}

TEST_CASE("handler without metrics answers the same") {
  Handled h(false);
  CHECK(h.ask("postfix", "a.test") == std::pair<std::string, bool>{kSecure, false});
  CHECK(h.ask("postfix", "a.test") == std::pair<std::string, bool>{kSecure, true});
  CHECK(h.registry.expose().empty());
}
