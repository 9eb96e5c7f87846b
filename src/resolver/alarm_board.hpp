#pragma once
// The domains whose protection is in danger now (the downgrade alarm): each
// alarm is logged once, loudly, when raised (and again when it escalates, e.g.
// from the week margin to the day margin), counted through the observer, and
// listed by `mta-stsctl list --alarms` until it clears.
#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "cache/cached_policy.hpp"
#include "resolver/discovery.hpp"
#include "resolver/downgrade.hpp"
#include "resolver/observer.hpp"

namespace mtasts::resolver {

struct Alarm {
  std::string subject;  // the domain (MTA-STS) or the destination (DANE)
  AlarmKind kind = AlarmKind::expiring;
  std::string before, after;  // the old and the new state, in words
  std::string reason;         // what was seen
  std::int64_t since = 0;     // wall time it was raised
  std::uint32_t stage = 0;    // expiring: the margin reached (see expiry_stage)
};

class AlarmBoard {
 public:
  void set_observer(Observer* observer) { observer_ = observer; }
  // Raises an alarm, or escalates it to a higher stage; anything else about an
  // alarm already raised stays quiet. True when it was logged.
  bool raise(Alarm alarm);
  void clear(const std::string& subject, AlarmKind kind);
  void clear_all(const std::string& subject);

  bool has(const std::string& subject, AlarmKind kind) const {
    return alarms_.count({subject, kind}) != 0;
  }
  std::size_t size() const { return alarms_.size(); }
  std::size_t count(AlarmKind kind) const;
  // Every alarm now, by subject then kind.
  std::vector<Alarm> list() const;

  // The policy lifecycle's rules, for a domain whose policy memory holds:
  // a failed refresh of an enforce policy near expiry or without its TXT
  // record (the policy still applies, §3.3, but nothing will replace it)...
  void refresh_failed(const std::string& domain, const DiscoveryResult& result,
                      const cache::CachedPolicy& kept, const AlarmSettings& settings,
                      std::int64_t now);
  // ...a refresh that confirmed the TXT id...
  void refresh_confirmed(const std::string& domain);
  // ...and a new policy replacing the one held: weaker, or not.
  void policy_changed(const std::string& domain, const cache::CachedPolicy& before,
                      const sts::Policy& after, std::int64_t now);

 private:
  std::map<std::pair<std::string, AlarmKind>, Alarm> alarms_;
  Observer* observer_ = nullptr;
};

}  // namespace mtasts::resolver
