#include "resolver/alarm_board.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

namespace mtasts::resolver {

bool AlarmBoard::raise(Alarm alarm) {
  const auto key = std::make_pair(alarm.subject, alarm.kind);
  auto it = alarms_.find(key);
  if (it != alarms_.end() && alarm.stage <= it->second.stage) return false;
  if (it != alarms_.end()) alarm.since = it->second.since;
  // One line an admin's log watch can match: the domain, old and new state, why.
  spdlog::warn("{}: DOWNGRADE ALARM {}: {} -> {} ({})", alarm.subject, to_string(alarm.kind),
               alarm.before, alarm.after, alarm.reason);
  if (observer_ != nullptr) observer_->alarm(alarm.kind);
  alarms_[key] = std::move(alarm);
  return true;
}

void AlarmBoard::clear(const std::string& subject, AlarmKind kind) {
  if (alarms_.erase({subject, kind}) != 0) {
    spdlog::info("{}: alarm {} cleared", subject, to_string(kind));
  }
}

void AlarmBoard::clear_all(const std::string& subject) {
  for (auto it = alarms_.lower_bound({subject, AlarmKind{}});
       it != alarms_.end() && it->first.first == subject;) {
    it = alarms_.erase(it);
  }
}

std::size_t AlarmBoard::count(AlarmKind kind) const {
  std::size_t n = 0;
  for (const auto& [key, alarm] : alarms_) n += alarm.kind == kind ? 1 : 0;
  return n;
}

std::vector<Alarm> AlarmBoard::list() const {
  std::vector<Alarm> out;
  out.reserve(alarms_.size());
  for (const auto& [key, alarm] : alarms_) out.push_back(alarm);
  return out;
}

void AlarmBoard::refresh_failed(const std::string& domain, const DiscoveryResult& result,
                                const cache::CachedPolicy& kept, const AlarmSettings& settings,
                                std::int64_t now) {
  if (kept.policy.mode != sts::Mode::enforce) return;
  const std::string before = fmt::format("enforce id={}, expires in {}", kept.txt_id,
                                         describe_expiry(kept.expires_at, now));
  if (result.outcome == DiscoveryResult::Outcome::no_policy) {
    raise({domain, AlarmKind::txt_removed, before, "no MTA-STS TXT record", result.reason, now, 0});
  }
  if (const auto stage = expiry_stage(settings, kept.expires_at - now); stage > 0) {
    raise({domain, AlarmKind::expiring, before, "refreshes failing", result.reason, now, stage});
  }
}

void AlarmBoard::refresh_confirmed(const std::string& domain) {
  clear(domain, AlarmKind::expiring);
  clear(domain, AlarmKind::txt_removed);
}

void AlarmBoard::policy_changed(const std::string& domain, const cache::CachedPolicy& before,
                                const sts::Policy& after, std::int64_t now) {
  refresh_confirmed(domain);
  const auto why = weakening(before.policy, after);
  if (why.empty()) return clear(domain, AlarmKind::weaker_policy);
  raise({domain, AlarmKind::weaker_policy,
         fmt::format("enforce id={} max_age={}", before.txt_id, before.policy.max_age),
         fmt::format("{} max_age={}", sts::to_string(after.mode), after.max_age), why, now, 0});
}

}  // namespace mtasts::resolver
