#include <doctest/doctest.h>

#include <chrono>
#include <string>

#include "daemon/answer_metrics.hpp"
#include "metrics/registry.hpp"

using mtasts::daemon::AnswerKind;
using mtasts::daemon::AnswerMetrics;
using mtasts::daemon::classify_answer;
using mtasts::daemon::zone_labels;

TEST_CASE("answers are classed by their text") {
  CHECK(classify_answer("OK secure match=.example.com servername=hostname") == AnswerKind::secure);
  CHECK(classify_answer("OK dane-only") == AnswerKind::dane_only);
  CHECK(classify_answer("OK dane") == AnswerKind::dane);
  CHECK(classify_answer("NOTFOUND ") == AnswerKind::notfound);
  CHECK(classify_answer("TEMP ") == AnswerKind::temp);
  CHECK(classify_answer("TEMP internal error") == AnswerKind::temp);
  CHECK(classify_answer("PERM malformed request") == AnswerKind::perm);
}

TEST_CASE("zone labels: the default zone is default_zone unless a zone has that name") {
  CHECK(zone_labels({"", "strict"}) == std::vector<std::string>{"default_zone", "strict"});
  CHECK(zone_labels({"", "default_zone", "default_zone_"}) ==
        std::vector<std::string>{"default_zone__", "default_zone", "default_zone_"});
}

TEST_CASE("answers counted per zone and kind; latency split by waiting") {
  mtasts::metrics::Registry registry;
  AnswerMetrics answers(registry, zone_labels({"", "strict"}));
  answers.answered(1, "OK secure match=mx.example.com");
  answers.answered(0, "NOTFOUND ");
  answers.answered(7, "TEMP ");  // an unknown index is the default zone
  answers.took(false, std::chrono::microseconds(3));
  answers.took(true, std::chrono::milliseconds(40));
  const auto text = registry.expose();
  CHECK(text.find("mtastsd_answers_total{zone=\"strict\",kind=\"secure\"} 1\n") !=
        std::string::npos);
  CHECK(text.find("mtastsd_answers_total{zone=\"default_zone\",kind=\"notfound\"} 1\n") !=
        std::string::npos);
  CHECK(text.find("mtastsd_answers_total{zone=\"default_zone\",kind=\"temp\"} 1\n") !=
        std::string::npos);
  CHECK(text.find("mtastsd_answer_hit_duration_seconds_bucket{le=\"5e-06\"} 1\n") !=
        std::string::npos);
  CHECK(text.find("mtastsd_answer_hit_duration_seconds_bucket{le=\"2.5e-06\"} 0\n") !=
        std::string::npos);
  CHECK(text.find("mtastsd_answer_wait_duration_seconds_bucket{le=\"0.05\"} 1\n") !=
        std::string::npos);
  CHECK(text.find("mtastsd_answer_wait_duration_seconds_bucket{le=\"0.025\"} 0\n") !=
        std::string::npos);
  // No PERM series per zone: PERM names no zone.
  CHECK(text.find("kind=\"perm\"") == std::string::npos);
}

TEST_CASE("a zone a reload adds gets its series at the next index, its label kept unique") {
  mtasts::metrics::Registry registry;
  AnswerMetrics answers(registry, zone_labels({"", "strict"}));
  answers.add_zone("tlsrpt");        // index 2
  answers.add_zone("default_zone");  // index 3: the default zone's label is taken
  answers.answered(2, "OK secure match=mx.example.com");
  answers.answered(3, "NOTFOUND ");
  answers.answered(0, "TEMP ");
  const auto text = registry.expose();
  CHECK(text.find("mtastsd_answers_total{zone=\"tlsrpt\",kind=\"secure\"} 1\n") !=
        std::string::npos);
  CHECK(text.find("mtastsd_answers_total{zone=\"default_zone_\",kind=\"notfound\"} 1\n") !=
        std::string::npos);
  CHECK(text.find("mtastsd_answers_total{zone=\"default_zone\",kind=\"temp\"} 1\n") !=
        std::string::npos);
  CHECK(text.find("mtastsd_answers_total{zone=\"default_zone\",kind=\"notfound\"} 0\n") !=
        std::string::npos);
}
