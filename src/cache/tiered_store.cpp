#include "cache/tiered_store.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <algorithm>
#include <functional>
#include <memory>
#include <unordered_map>
#include <vector>

#include "cache/record_check.hpp"
#include "util/log_text.hpp"

namespace mtasts::cache {

namespace {

int strength(sts::Mode mode) {
  switch (mode) {
    case sts::Mode::enforce:
      return 2;
    case sts::Mode::testing:
      return 1;
    case sts::Mode::none:
      return 0;
  }
  return 0;
}

std::vector<std::string> sorted(std::vector<std::string> mx) {
  std::sort(mx.begin(), mx.end());
  return mx;
}

// One policy's state, for the log line that refuses a downgrade.
std::string state(const CachedPolicy& p) {
  std::string mx;
  for (const auto& pattern : p.policy.mx) mx += (mx.empty() ? "" : ",") + pattern;
  return fmt::format("mode {} id={} mx={} fetched_at={}", sts::to_string(p.policy.mode),
                     util::log_text(p.txt_id), util::log_text(mx, 1024), p.fetched_at);
}

}  // namespace

std::optional<std::string> shared_downgrade(const CachedPolicy& local, const CachedPolicy& shared,
                                            std::int64_t now) {
  if (local.expired(now)) return std::nullopt;
  const auto from = strength(local.policy.mode);
  const auto to = strength(shared.policy.mode);
  if (local.policy.mode == sts::Mode::enforce && to < from) {
    return fmt::format("enforce to {}", sts::to_string(shared.policy.mode));
  }
  if (shared.txt_id == local.txt_id) {
    if (to < from) {
      return fmt::format("{} to {} under the same id", sts::to_string(local.policy.mode),
                         sts::to_string(shared.policy.mode));
    }
    if (sorted(shared.policy.mx) != sorted(local.policy.mx)) {
      return "other mx patterns under the same id";
    }
  }
  return std::nullopt;
}

struct TieredStore::Common {
  const util::Clock* clock = nullptr;
  std::string primary_name;
  std::string secondary_name;
  LogOnce logged;

  // A record from `tier` as the resolver may see it: checked, or dropped and logged.
  std::optional<CachedPolicy> checked(std::optional<CachedPolicy> record, const std::string& tier,
                                      std::int64_t now) {
    if (!record) return record;
    if (auto why = check_policy_record(*record, now)) {
      if (logged.first(tier + " " + record->domain, *why)) {
        spdlog::warn("{}: ignoring unusable policy for '{}': {}", tier,
                     util::log_text(record->domain), *why);
      }
      return std::nullopt;
    }
    return record;
  }

  std::optional<CachedDane> checked(std::optional<CachedDane> record, const std::string& tier,
                                    std::int64_t now) {
    if (!record) return record;
    if (auto why = check_dane_record(*record, now)) {
      if (logged.first(tier + " dane " + record->destination, *why)) {
        spdlog::warn("{}: ignoring unusable DANE result for '{}': {}", tier,
                     util::log_text(record->destination), *why);
      }
      return std::nullopt;
    }
    return record;
  }

  // The tiers' disagreement rule (tiered_store.hpp). `from_shared` tells the
  // caller the shared record won.
  std::optional<CachedPolicy> choose(std::optional<CachedPolicy> local,
                                     std::optional<CachedPolicy> shared, std::int64_t now,
                                     bool& from_shared) {
    from_shared = false;
    if (!shared) return local;
    if (!local) {
      from_shared = true;
      return shared;
    }
    if (auto why = shared_downgrade(*local, *shared, now)) {
      const auto offered = state(*shared);
      if (logged.first("downgrade " + local->domain, *why + offered)) {
        spdlog::warn(
            "{}: the shared store {} has {} where this daemon's own copy has {} ({}): not "
            "accepted from the shared store without our own fetch confirming it",
            util::log_text(local->domain), primary_name, offered, state(*local), *why);
      }
      return local;
    }
    if (shared->fetched_at > local->fetched_at) {
      from_shared = true;
      return shared;
    }
    return local;
  }

  // PolicyStore::list_policies or PolicyStore::list_dane.
  template <class Record>
  using List = void (PolicyStore::*)(std::int64_t, std::size_t,
                                     std::function<void(std::vector<Record>)>);

  // The local tier's list with the shared tier's merged in: every shared record
  // is checked; one the local list lacks joins it while under `limit`; for one
  // both hold, keep(common, mine, theirs, now) decides which stays in `mine`.
  template <class Record, class Key, class Keep>
  static void list_both(const std::shared_ptr<Common>& common, PolicyStore& primary,
                        std::weak_ptr<PolicyStore> local, List<Record> list, std::int64_t now,
                        std::size_t limit, Key key, Keep keep,
                        std::function<void(std::vector<Record>)> done) {
    (primary.*list)(now, limit,
                    [common, local = std::move(local), list, now, limit, key, keep,
                     done = std::move(done)](std::vector<Record> shared) mutable {
                      auto secondary = local.lock();
                      if (!secondary) return done({});
                      ((*secondary).*list)(
                          now, limit,
                          [common, now, limit, key, keep, shared = std::move(shared),
                           done = std::move(done)](std::vector<Record> mine) mutable {
                            std::unordered_map<std::string, std::size_t> index;
                            for (std::size_t i = 0; i < mine.size(); ++i)
                              index.emplace(key(mine[i]), i);
                            for (auto& record : shared) {
                              auto theirs =
                                  common->checked(std::optional<Record>(std::move(record)),
                                                  common->primary_name, now);
                              if (!theirs) continue;
                              const auto it = index.find(key(*theirs));
                              if (it == index.end()) {
                                if (mine.size() < limit) mine.push_back(std::move(*theirs));
                              } else {
                                keep(*common, mine[it->second], std::move(*theirs), now);
                              }
                            }
                            done(std::move(mine));
                          });
                    });
  }
};

TieredStore::TieredStore(std::unique_ptr<PolicyStore> primary,
                         std::unique_ptr<PolicyStore> secondary, const util::Clock* clock)
    : primary_(std::move(primary)),
      secondary_(std::move(secondary)),
      common_(std::make_shared<Common>()) {
  static const util::SystemClock system;
  common_->clock = clock != nullptr ? clock : &system;
  common_->primary_name = primary_->describe();
  common_->secondary_name = secondary_->describe();
}

std::string TieredStore::describe() const {
  return primary_->describe() + " (local copy " + secondary_->describe() + ")";
}

bool TieredStore::load_all(const std::function<void(CachedPolicy)>& sink) {
  const auto now = common_->clock->now();
  std::unordered_map<std::string, CachedPolicy> merged;
  const bool local_complete = secondary_->load_all([&](CachedPolicy policy) {
    auto ok = common_->checked(std::move(policy), common_->secondary_name, now);
    if (!ok) return;
    auto it = merged.find(ok->domain);
    if (it == merged.end()) {
      merged.emplace(ok->domain, std::move(*ok));
    } else if (ok->fetched_at > it->second.fetched_at) {
      it->second = std::move(*ok);
    }
  });
  std::size_t unchecked = 0;
  const bool shared_complete = primary_->load_all([&](CachedPolicy policy) {
    auto ok = common_->checked(std::move(policy), common_->primary_name, now);
    if (!ok) return;
    auto it = merged.find(ok->domain);
    if (it == merged.end()) {
      // Without our own copy the downgrade rule cannot be applied (as in fetch):
      // only enforce is taken; a weaker record waits for the domain's first query.
      if (!local_complete && ok->policy.mode != sts::Mode::enforce) {
        ++unchecked;
        return;
      }
      merged.emplace(ok->domain, std::move(*ok));
      return;
    }
    bool from_shared = false;
    auto chosen = common_->choose(std::move(it->second), std::move(ok), now, from_shared);
    it->second = std::move(*chosen);
  });
  if (unchecked > 0) {
    spdlog::warn(
        "{}: {} testing or none policies of {} not loaded: this daemon's own copy could not be "
        "read to check them against",
        describe(), unchecked, common_->primary_name);
  }
  for (auto& [domain, policy] : merged) sink(std::move(policy));
  return local_complete && shared_complete;
}

namespace {

// Neither tier has a usable record. The local tier holds every record this
// daemon learned or answered with, so its "absent" is the answer even while the
// shared tier is down (what another daemon alone learned, this one never relied
// on). A local tier that could not answer may hold the domain's policy: then
// nobody can tell (issue 16).
template <class Read>
Read neither(const Read& shared, const Read& local) {
  if (!local.unknown()) return Read::absent();
  std::string why = local.failure;
  if (shared.unknown()) why += "; " + shared.failure;
  return Read::failed(std::move(why));
}

}  // namespace

void TieredStore::fetch(const std::string& domain, std::function<void(PolicyRead)> done) {
  std::weak_ptr<PolicyStore> local = secondary_;
  primary_->fetch(
      domain, [local, common = common_, domain, done = std::move(done)](PolicyRead shared) mutable {
        const auto now = common->clock->now();
        shared.record = common->checked(std::move(shared.record), common->primary_name, now);
        auto secondary = local.lock();
        if (!secondary) return done(std::move(shared));
        // The local copy too: a shared record must not win over it by being newer
        // when it is a downgrade (a point read, microseconds for SQLite).
        secondary->fetch(domain, [local, common, now, shared = std::move(shared),
                                  done = std::move(done)](PolicyRead mine) mutable {
          mine.record = common->checked(std::move(mine.record), common->secondary_name, now);
          if (!mine.record && !shared.record) return done(neither(shared, mine));
          if (mine.unknown() && shared.record && shared.record->policy.mode != sts::Mode::enforce) {
            // Our own copy cannot be read, so the downgrade rule cannot be applied:
            // a weaker shared record might replace an enforce policy we hold. Only
            // enforce (nothing is stronger) is taken unchecked.
            return done(PolicyRead::failed(
                fmt::format("{}; the shared store's mode {} policy is not taken without it",
                            mine.failure, sts::to_string(shared.record->policy.mode))));
          }
          bool from_shared = false;
          auto chosen =
              common->choose(std::move(mine.record), std::move(shared.record), now, from_shared);
          if (from_shared) {
            // A policy another daemon learned is kept locally too: a restart while
            // the primary is down must still have every policy this daemon answered
            // with.
            if (auto secondary = local.lock()) secondary->save(*chosen);
          }
          done(PolicyRead::answered(std::move(chosen)));
        });
      });
}

void TieredStore::save(const CachedPolicy& policy) {
  primary_->save(policy);
  secondary_->save(policy);
}

void TieredStore::remove(const std::string& domain) {
  primary_->remove(domain);
  secondary_->remove(domain);
}

void TieredStore::load_all_dane(const std::function<void(CachedDane)>& sink) {
  const auto now = common_->clock->now();
  std::unordered_map<std::string, CachedDane> merged;
  auto keep_newest = [&](const std::string& tier) {
    return [&, tier](CachedDane dane) {
      auto ok = common_->checked(std::move(dane), tier, now);
      if (!ok) return;
      auto it = merged.find(ok->destination);
      if (it == merged.end()) {
        merged.emplace(ok->destination, std::move(*ok));
      } else if (ok->fetched_at > it->second.fetched_at) {
        it->second = std::move(*ok);
      }
    };
  };
  secondary_->load_all_dane(keep_newest(common_->secondary_name));
  primary_->load_all_dane(keep_newest(common_->primary_name));
  for (auto& [destination, dane] : merged) sink(std::move(dane));
}

void TieredStore::fetch_dane(const std::string& destination, std::function<void(DaneRead)> done) {
  std::weak_ptr<PolicyStore> local = secondary_;
  primary_->fetch_dane(destination, [local, common = common_, destination,
                                     done = std::move(done)](DaneRead shared) mutable {
    const auto now = common->clock->now();
    shared.record = common->checked(std::move(shared.record), common->primary_name, now);
    auto secondary = local.lock();
    if (shared.record) {
      // Kept locally too, as policies are: a restart while the primary is down
      // still has every DANE result this daemon answered with.
      if (secondary) secondary->save_dane(*shared.record);
      return done(std::move(shared));
    }
    if (!secondary) return done(std::move(shared));
    secondary->fetch_dane(destination, [common, now, shared = std::move(shared),
                                        done = std::move(done)](DaneRead mine) mutable {
      mine.record = common->checked(std::move(mine.record), common->secondary_name, now);
      if (mine.record) return done(std::move(mine));
      done(neither(shared, mine));
    });
  });
}

void TieredStore::save_dane(const CachedDane& dane) {
  primary_->save_dane(dane);
  secondary_->save_dane(dane);
}

void TieredStore::due_for_refresh(std::int64_t now, std::int64_t checked_before,
                                  std::int64_t expires_before, std::size_t limit,
                                  std::function<void(std::vector<RefreshDue>)> done) {
  secondary_->due_for_refresh(now, checked_before, expires_before, limit, std::move(done));
}

void TieredStore::list_policies(std::int64_t now, std::size_t limit,
                                std::function<void(std::vector<CachedPolicy>)> done) {
  Common::list_both<CachedPolicy>(
      common_, *primary_, secondary_, &PolicyStore::list_policies, now, limit,
      [](const CachedPolicy& p) -> const std::string& { return p.domain; },
      [](Common& common, CachedPolicy& mine, CachedPolicy theirs, std::int64_t now) {
        bool from_shared = false;
        mine = std::move(*common.choose(std::move(mine), std::move(theirs), now, from_shared));
      },
      std::move(done));
}

// Both tiers, as load_all_dane merges them: a result only the shared store
// holds (another daemon of the fleet learned it) is this daemon's too, and of
// two for one destination the one fetched last wins.
void TieredStore::list_dane(std::int64_t now, std::size_t limit,
                            std::function<void(std::vector<CachedDane>)> done) {
  Common::list_both<CachedDane>(
      common_, *primary_, secondary_, &PolicyStore::list_dane, now, limit,
      [](const CachedDane& d) -> const std::string& { return d.destination; },
      [](Common&, CachedDane& mine, CachedDane theirs, std::int64_t) {
        if (theirs.fetched_at > mine.fetched_at) mine = std::move(theirs);
      },
      std::move(done));
}

std::optional<PolicyStore::Census> TieredStore::census(std::int64_t now,
                                                       std::int64_t expiring_before) {
  return secondary_->census(now, expiring_before);
}

void TieredStore::confirm(const std::string& domain, const std::string& txt_id,
                          std::int64_t checked_at) {
  primary_->confirm(domain, txt_id, checked_at);
  secondary_->confirm(domain, txt_id, checked_at);
}

std::vector<StoreErrorCounts> TieredStore::error_counts() const {
  auto counts = primary_->error_counts();
  for (auto& local : secondary_->error_counts()) counts.push_back(std::move(local));
  return counts;
}

void TieredStore::flush() {
  primary_->flush();
  secondary_->flush();
}

}  // namespace mtasts::cache
