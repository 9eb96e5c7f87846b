#include "daemon/control_replies.hpp"

#include <cstddef>
#include <string_view>
#include <utility>

#include "control/protocol.hpp"

namespace mtasts::daemon {

using control::dump;
using control::Json;
using control::policy_object;

std::string show_json(const resolver::PolicyResolver& policies, const std::string& domain,
                      const std::string& dane_key, std::int64_t now) {
  const cache::CachedPolicy* p = policies.cache().policy(domain, now);
  // The DANE result (RFC 7672) is kept apart from the policy: shown either way.
  Json dane = nullptr;
  if (const auto* resolver = policies.dane()) {
    if (const auto* d = resolver->cache().result(dane_key)) {
      dane = Json{{"level", dane::to_string(d->level)},
                  {"summary", d->summary},
                  {"fetched", d->fetched_at},
                  {"expires", d->expires_at},
                  {"keep_until", d->keep_until}};
    }
  }
  if (p == nullptr) {
    return dump(Json{{"domain", domain}, {"error", "not cached"}, {"dane", std::move(dane)}});
  }
  Json reply = policy_object(*p);
  reply["dane"] = std::move(dane);
  // What each zone answers Postfix for this policy (null: default_zone), with
  // the zones in force (a reload may have changed their options).
  Json answers = Json::array();
  const auto& zones = policies.zones();
  for (std::size_t i = 0; i < zones.size(); ++i) {
    if (zones[i].retired) continue;  // removed by a reload: its name selects default_zone
    answers.push_back(Json{{"zone", i == 0 ? Json(nullptr) : Json(zones[i].name)},
                           {"answer", policies.cache().answer_for(*p, policies.answer_class(i))}});
  }
  reply["answers"] = std::move(answers);
  return dump(reply);
}

std::string alarms_json(const resolver::PolicyResolver& policies) {
  Json alarms = Json::array();
  for (const auto& a : policies.alarms().list()) {
    alarms.push_back(Json{{"subject", a.subject},
                          {"kind", resolver::to_string(a.kind)},
                          {"before", a.before},
                          {"after", a.after},
                          {"reason", a.reason},
                          {"since", a.since},
                          {"stage", a.stage}});
  }
  return dump(Json{{"alarms", std::move(alarms)}});
}

std::string stats_json(const resolver::PolicyResolver& policies) {
  const auto& s = policies.stats();
  const resolver::DaneResolver* dane = policies.dane();
  const auto& cache = policies.cache();
  return dump(Json{
      {"queries", s.queries},
      {"hits", s.hits},
      {"negative_hits", s.negative_hits},
      {"misses", s.misses},
      {"discoveries", s.discoveries},
      {"revalidations", s.revalidations},
      {"proactive", s.proactive},
      {"store_hits", s.store_hits},
      {"timeouts", s.timeouts},
      {"overloaded", s.overloaded},
      {"rejected_keys", s.rejected_keys},
      {"cache_entries", cache.size()},
      {"policies", cache.positive_count()},
      {"negative", cache.negative_count()},
      {"in_flight", policies.in_flight()},
      {"dane", dane ? dane->status() : std::string_view("disabled")},
      {"dane_only_answers", s.dane_only},
      {"dane_answers", s.dane},
      {"dane_temp_answers", s.dane_temp},
      {"dane_lookups", dane ? dane->stats().lookups : 0},
      {"dane_failures", dane ? dane->stats().failures : 0},
      {"dane_stale_answers", dane ? dane->stats().stale_answers : 0},
      {"dane_cached", dane ? dane->cache().result_count() : 0},
      {"alarms", policies.alarms().size()},
      {"store_read_failures", s.store_unknown},
      {"store_unknown_temp", s.store_unknown_temp},
  });
}

}  // namespace mtasts::daemon
