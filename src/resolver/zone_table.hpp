#pragma once
// The zones a daemon answers for: each socketmap name selects one, with its
// answer options (strict_testing, TLSRPT attributes) and the longest a query
// waits for a cold discovery. Zones that answer alike share one answer class,
// so the cache renders each policy once per class, not once per zone.
// A reload matches zones by name; an index, once given, always means the same
// zone (queries in flight, the cache's answer classes and the metrics' series
// refer to it).
#include <chrono>
#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "sts/answer.hpp"
#include "util/string_map.hpp"

namespace mtasts::resolver {

struct Zone {
  std::string name;  // socketmap name; "" for the default zone
  sts::AnswerOptions answer;
  std::chrono::milliseconds timeout{4000};  // longest a query waits for a cold discovery
  // Removed by a reload: its name selects the default zone again, and it
  // answers as the default zone for queries still waiting in it. Its index stays.
  bool retired = false;
};

// What a reload did to the set of zones, by socketmap name.
struct ZoneChanges {
  std::vector<std::string> added;    // new indices, in this order, at the end
  std::vector<std::string> retired;  // no longer selected by their names
};

class ZoneTable {
 public:
  // zones[0] is the default zone, used for unknown socketmap names (an empty
  // list means a default zone with default options).
  explicit ZoneTable(std::vector<Zone> zones);

  // The zone a socketmap name selects (0, the default zone, for unknown names).
  std::size_t index(std::string_view map_name) const;
  // Every zone by index, the retired ones included.
  const std::vector<Zone>& all() const { return zones_; }
  // Out-of-range indices mean the default zone.
  const Zone& operator[](std::size_t zone) const { return zones_[zone < zones_.size() ? zone : 0]; }
  std::size_t answer_class(std::size_t zone) const {
    return zone < zone_class_.size() ? zone_class_[zone] : 0;
  }
  // The distinct answer options, by answer class.
  const std::vector<sts::AnswerOptions>& classes() const { return classes_; }

  // A reload's zones: the default zone is replaced, a known name keeps its
  // index (a retired one is selected again), a new name gets the next index,
  // a name no longer configured is retired and answers as the default zone.
  ZoneChanges reconfigure(std::vector<Zone> zones);

 private:
  void index_names();
  void classify();

  std::vector<Zone> zones_;
  std::vector<std::size_t> zone_class_;  // zone index -> answer class
  std::vector<sts::AnswerOptions> classes_;
  util::StringMap<std::size_t> by_name_;
};

}  // namespace mtasts::resolver
