#pragma once
// The metrics a program exports, and their text exposition (Prometheus format
// 0.0.4). Every series is created up front, with its labels, before traffic
// arrives: the hot paths hold references to their Counter/Histogram and never
// look anything up. Values a program already counts elsewhere are read through
// a function at scrape time instead of being counted twice.
//
// Registration and expose() are not thread-safe with each other: register at
// start-up, scrape from one thread. Updating instruments is safe from any thread.
#include <deque>
#include <functional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "metrics/instruments.hpp"

namespace mtasts::metrics {

using Labels = std::vector<std::pair<std::string, std::string>>;

class Registry {
 public:
  // Each throws std::logic_error for an invalid name or label name, a counter
  // whose name does not end in _total, a name registered before as another type
  // or with another help text, or the same labels twice under one name.
  Counter& counter(std::string_view name, std::string_view help, const Labels& labels = {});
  Gauge& gauge(std::string_view name, std::string_view help, const Labels& labels = {});
  Histogram& histogram(std::string_view name, std::string_view help,
                       const std::vector<double>& bounds_seconds, const Labels& labels = {});
  // Read at scrape time, on the thread that calls expose().
  void counter_from(std::string_view name, std::string_view help, const Labels& labels,
                    std::function<double()> read);
  void gauge_from(std::string_view name, std::string_view help, const Labels& labels,
                  std::function<double()> read);
  // Runs at the start of every expose(): for gauges that one walk over a data
  // structure sets together (e.g. cached policies by mode).
  void before_scrape(std::function<void()> fn);

  // The whole exposition: families in registration order, each with HELP and
  // TYPE, then its series in registration order.
  std::string expose();

 private:
  enum class Type { counter, gauge, histogram };
  using Source =
      std::variant<const Counter*, const Gauge*, const Histogram*, std::function<double()>>;
  struct Series {
    std::string labels;  // rendered: name="value",... (escaped, no braces)
    Source source;
  };
  struct Family {
    std::string name;
    std::string help;
    Type type;
    std::vector<Series> series;
  };

  Family& family(std::string_view name, std::string_view help, Type type, const Labels& labels,
                 std::string& rendered);
  static std::string_view type_name(Type type);
  static void write_family(std::string& out, const Family& family);

  std::vector<Family> families_;
  // deque: instruments keep their address as more are added (they are atomics,
  // and callers hold references).
  std::deque<Counter> counters_;
  std::deque<Gauge> gauges_;
  std::deque<Histogram> histograms_;
  std::vector<std::function<void()>> before_scrape_;
};

}  // namespace mtasts::metrics
