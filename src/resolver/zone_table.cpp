#include "resolver/zone_table.hpp"

#include <algorithm>

namespace mtasts::resolver {

ZoneTable::ZoneTable(std::vector<Zone> zones)
    : zones_(zones.empty() ? std::vector<Zone>{Zone{}} : std::move(zones)) {
  index_names();
  classify();
}

std::size_t ZoneTable::index(std::string_view name) const {
  auto it = by_name_.find(name);
  return it == by_name_.end() ? 0 : it->second;
}

ZoneChanges ZoneTable::reconfigure(std::vector<Zone> zones) {
  if (zones.empty()) zones.push_back(Zone{});
  ZoneChanges changes;
  std::vector<bool> configured(zones_.size(), false);
  zones_[0] = std::move(zones[0]);
  configured[0] = true;
  for (std::size_t i = 1; i < zones.size(); ++i) {
    const auto known = std::find_if(zones_.begin() + 1, zones_.end(),
                                    [&](const Zone& z) { return z.name == zones[i].name; });
    if (known == zones_.end()) {
      changes.added.push_back(zones[i].name);
      zones_.push_back(std::move(zones[i]));
      configured.push_back(true);
      continue;
    }
    if (known->retired) changes.added.push_back(zones[i].name);
    *known = std::move(zones[i]);
    configured[static_cast<std::size_t>(known - zones_.begin())] = true;
  }
  for (std::size_t i = 1; i < zones_.size(); ++i) {
    auto& zone = zones_[i];
    if (configured[i]) {
      zone.retired = false;
      continue;
    }
    if (!zone.retired) changes.retired.push_back(zone.name);
    // Its waiting queries answer as the default zone, which its name now selects.
    zone.retired = true;
    zone.answer = zones_[0].answer;
    zone.timeout = zones_[0].timeout;
  }
  index_names();
  classify();
  return changes;
}

void ZoneTable::index_names() {
  by_name_.clear();
  for (std::size_t i = 1; i < zones_.size(); ++i) {
    if (!zones_[i].retired) by_name_.emplace(zones_[i].name, i);
  }
}

void ZoneTable::classify() {
  // Zones that answer alike share one pre-rendered answer per policy.
  classes_.clear();
  zone_class_.clear();
  for (const auto& zone : zones_) {
    std::size_t index = 0;
    while (index < classes_.size() && !(classes_[index] == zone.answer)) ++index;
    if (index == classes_.size()) classes_.push_back(zone.answer);
    zone_class_.push_back(index);
  }
}

}  // namespace mtasts::resolver
