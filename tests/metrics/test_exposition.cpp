#include <doctest/doctest.h>

#include <chrono>
#include <stdexcept>
#include <string>

#include "metrics/registry.hpp"
#include "metrics/text_format.hpp"

using mtasts::metrics::Registry;
using namespace std::chrono_literals;

TEST_CASE("counters and gauges: HELP, TYPE, labels, values") {
  Registry r;
  auto& secure = r.counter("mtastsd_answers_total", "Answers sent to Postfix.",
                           {{"zone", "default_zone"}, {"kind", "secure"}});
  auto& temp = r.counter("mtastsd_answers_total", "Answers sent to Postfix.",
                         {{"zone", "default_zone"}, {"kind", "temp"}});
  auto& open = r.gauge("mtastsd_connections_open", "Open socketmap connections.");
  secure.inc();
  secure.inc(2);
  open.set(7);
  open.add(-2);
  CHECK(temp.value() == 0);
  CHECK(r.expose() ==
        "# HELP mtastsd_answers_total Answers sent to Postfix.\n"
        "# TYPE mtastsd_answers_total counter\n"
        "mtastsd_answers_total{zone=\"default_zone\",kind=\"secure\"} 3\n"
        "mtastsd_answers_total{zone=\"default_zone\",kind=\"temp\"} 0\n"
        "# HELP mtastsd_connections_open Open socketmap connections.\n"
        "# TYPE mtastsd_connections_open gauge\n"
        "mtastsd_connections_open 5\n");
}

TEST_CASE("histogram: cumulative buckets, +Inf, _sum in seconds, _count") {
  Registry r;
  auto& h = r.histogram("mtastsd_answer_duration_seconds", "How long answers took.",
                        {0.001, 0.01, 0.1}, {{"path", "hit"}});
  h.observe(500us);  // le 0.001
  h.observe(1ms);    // le 0.001 (bounds are inclusive)
  h.observe(50ms);   // le 0.1
  h.observe(2s);     // +Inf only
  CHECK(r.expose() ==
        "# HELP mtastsd_answer_duration_seconds How long answers took.\n"
        "# TYPE mtastsd_answer_duration_seconds histogram\n"
        "mtastsd_answer_duration_seconds_bucket{path=\"hit\",le=\"0.001\"} 2\n"
        "mtastsd_answer_duration_seconds_bucket{path=\"hit\",le=\"0.01\"} 2\n"
        "mtastsd_answer_duration_seconds_bucket{path=\"hit\",le=\"0.1\"} 3\n"
        "mtastsd_answer_duration_seconds_bucket{path=\"hit\",le=\"+Inf\"} 4\n"
        "mtastsd_answer_duration_seconds_sum{path=\"hit\"} 2.0515\n"
        "mtastsd_answer_duration_seconds_count{path=\"hit\"} 4\n");
}

TEST_CASE("histogram without labels; microsecond bounds written exactly") {
  Registry r;
  auto& h = r.histogram("x_seconds", "h", {0.000005, 0.00025, 1});
  h.observe(-5ns);  // a clock step backwards counts as 0, never as a huge value
  const auto text = r.expose();
  CHECK(text.find("x_seconds_bucket{le=\"5e-06\"} 1\n") != std::string::npos);
  CHECK(text.find("x_seconds_bucket{le=\"0.00025\"} 1\n") != std::string::npos);
  CHECK(text.find("x_seconds_bucket{le=\"1\"} 1\n") != std::string::npos);
  CHECK(text.find("x_seconds_sum 0\n") != std::string::npos);
  CHECK(text.find("x_seconds_count 1\n") != std::string::npos);
}

TEST_CASE("values read at scrape time, and before_scrape hooks run first") {
  Registry r;
  double hits = 0;
  int scrapes = 0;
  auto& mode = r.gauge("cached", "g", {{"mode", "enforce"}});
  r.counter_from("hits_total", "c", {}, [&] { return hits; });
  r.gauge_from("ratio", "g", {}, [] { return 0.25; });
  r.before_scrape([&] {
    ++scrapes;
    mode.set(scrapes * 10);
  });
  hits = 41;
  auto text = r.expose();
  CHECK(text.find("hits_total 41\n") != std::string::npos);
  CHECK(text.find("ratio 0.25\n") != std::string::npos);
  CHECK(text.find("cached{mode=\"enforce\"} 10\n") != std::string::npos);
  hits = 1e7;
  text = r.expose();
  CHECK(text.find("hits_total 10000000\n") != std::string::npos);  // not 1e+07
  CHECK(text.find("cached{mode=\"enforce\"} 20\n") != std::string::npos);
}

TEST_CASE("escaping: HELP text and label values") {
  Registry r;
  r.gauge("g", "line one\nback\\slash \"quoted\"", {{"v", "a\"b\\c\nd"}});
  CHECK(r.expose() ==
        "# HELP g line one\\nback\\\\slash \"quoted\"\n"
        "# TYPE g gauge\n"
        "g{v=\"a\\\"b\\\\c\\nd\"} 0\n");
}

TEST_CASE("registration mistakes are programming errors") {
  Registry r;
  CHECK_THROWS_AS(r.counter("answers", "no _total"), std::logic_error);
  CHECK_THROWS_AS(r.counter("1bad_total", "h"), std::logic_error);
  CHECK_THROWS_AS(r.gauge("g", ""), std::logic_error);
  CHECK_THROWS_AS(r.gauge("g", "h", {{"le", "1"}}), std::logic_error);
  CHECK_THROWS_AS(r.gauge("g", "h", {{"__name", "x"}}), std::logic_error);
  CHECK_THROWS_AS(r.gauge("g", "h", {{"bad-name", "x"}}), std::logic_error);
  r.gauge("g", "h", {{"a", "1"}});
  CHECK_THROWS_AS(r.gauge("g", "h", {{"a", "1"}}), std::logic_error);    // same series twice
  CHECK_THROWS_AS(r.gauge("g", "h2", {{"a", "2"}}), std::logic_error);   // other help
  CHECK_THROWS_AS(r.counter("g", "h", {{"a", "2"}}), std::logic_error);  // other type
  CHECK_NOTHROW(r.gauge("g", "h", {{"a", "2"}}));
  CHECK_THROWS_AS(r.histogram("h_seconds", "h", {}), std::invalid_argument);
  CHECK_THROWS_AS(r.histogram("h_seconds", "h", {0.1, 0.1}), std::invalid_argument);
  CHECK_THROWS_AS(r.histogram("h_seconds", "h", {0, 1}), std::invalid_argument);
}

TEST_CASE("format_value and names") {
  using mtasts::metrics::format_value;
  CHECK(format_value(0) == "0");
  CHECK(format_value(-3) == "-3");
  CHECK(format_value(0.1) == "0.1");
  CHECK(format_value(1.0 / 0.0) == "+Inf");
  CHECK(format_value(-1.0 / 0.0) == "-Inf");
  CHECK(format_value(0.0 / 0.0) == "NaN");
  CHECK(mtasts::metrics::valid_metric_name("a:b_c9"));
  CHECK_FALSE(mtasts::metrics::valid_metric_name("a-b"));
  CHECK_FALSE(mtasts::metrics::valid_metric_name(""));
  CHECK(mtasts::metrics::valid_label_name("zone"));
  CHECK_FALSE(mtasts::metrics::valid_label_name("a:b"));
}
