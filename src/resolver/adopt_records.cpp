// Records handed to the lifecycle from outside (mta-stsctl import), kept only
// when a store's record would be: an exported file is as trustworthy as
// whoever could edit it, so it passes the checks every store record passes
// (cache/record_check.hpp), and like the shared tier of a TieredStore it can
// never take back what the daemon holds: not a newer record, not an unexpired
// enforce policy (cache::shared_downgrade), not a stronger DANE result.
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "cache/record_check.hpp"
#include "cache/tiered_store.hpp"
#include "resolver/dane_discovery.hpp"
#include "resolver/dane_resolver.hpp"
#include "resolver/policy_resolver.hpp"
#include "sts/query_key.hpp"
#include "util/log_text.hpp"

namespace mtasts::resolver {

namespace {

Adoption refused(std::string why) { return {Adoption::Outcome::refused, std::move(why)}; }

// The record's name must be the form the daemon keys it by: another spelling
// would be a second entry no query ever reaches.
std::optional<std::string> not_canonical_domain(const std::string& domain) {
  const auto key = sts::parse_query_key(domain);
  if (key.kind != sts::QueryKey::Kind::domain || key.bracketed || key.port ||
      key.domain != domain) {
    return fmt::format("domain {} is not a lower-case A-label policy domain",
                       util::log_text(domain));
  }
  return std::nullopt;
}

// A held record fetched at the same time or later stays: the import is older.
template <class Record>
std::optional<Adoption> not_newer(const Record* held, const Record& offered) {
  if (held == nullptr || held->fetched_at < offered.fetched_at) return std::nullopt;
  return Adoption{Adoption::Outcome::older,
                  fmt::format("the daemon holds one fetched at {} (this one: {})", held->fetched_at,
                              offered.fetched_at)};
}

}  // namespace

void PolicyResolver::import_policy(cache::CachedPolicy record, std::function<void(Adoption)> done) {
  if (auto why = not_canonical_domain(record.domain)) return done(refused(*why));
  if (auto why = cache::adopt_policy_record(record, clock_.now())) return done(refused(*why));
  auto decide = [this, done](const cache::CachedPolicy& offered) {
    const auto now = clock_.now();
    if (offered.expired(now)) return done(refused("expired"));  // the store read took a while
    const cache::CachedPolicy* held = cache_.policy(offered.domain, now);
    if (auto older = not_newer(held, offered)) return done(*older);
    if (held != nullptr) {
      if (auto why = cache::shared_downgrade(*held, offered, now)) {
        return done(refused(fmt::format("would downgrade the policy held: {}", *why)));
      }
    }
    spdlog::info("{}: imported policy id={} mode={} fetched_at={}", offered.domain, offered.txt_id,
                 sts::to_string(offered.policy.mode), offered.fetched_at);
    if (store_ != nullptr) store_->save(offered);
    if (const auto capped = cache_.store_policy(offered); !capped.empty())
      spdlog::warn("{}", capped);
    done({Adoption::Outcome::adopted, {}});
  };
  if (store_ == nullptr || cache_.policy(record.domain, clock_.now()) != nullptr) {
    return decide(record);
  }
  // Memory is not the whole cache: what the store holds is read back first,
  // so an import never overwrites a stored policy it was not compared with.
  const std::string domain = record.domain;
  store_->fetch(domain, [this, alive = alive_, decide, record = std::move(record),
                         done](cache::PolicyRead stored) {
    if (!*alive) return;
    if (stored.unknown()) {
      return done(refused(fmt::format("the store cannot tell what it holds: {}", stored.failure)));
    }
    stored_.adopt(stored, record.domain);
    decide(record);
  });
}

void DaneResolver::import_result(cache::CachedDane record, std::function<void(Adoption)> done) {
  if (!settings_.enabled) return done(refused("DANE is disabled in this daemon"));
  const auto target = parse_dane_destination(record.destination);
  if (!target || dane_destination(*target) != record.destination ||
      not_canonical_domain(target->name)) {
    return done(refused(fmt::format("destination {} is not a domain, domain:port or [host]:port",
                                    util::log_text(record.destination))));
  }
  if (auto why = cache::check_dane_record(record, clock_.now())) return done(refused(*why));
  if (!record.usable_when_failing(clock_.now())) return done(refused("past keep_until"));
  auto decide = [this, done](const cache::CachedDane& offered, const cache::CachedDane* held) {
    const auto now = clock_.now();
    if (auto older = not_newer(held, offered)) return done(*older);
    if (held != nullptr && !held->expired(now) && offered.level < held->level) {
      return done(
          refused(fmt::format("would downgrade the DANE result held: {} to {}",
                              dane::to_string(held->level), dane::to_string(offered.level))));
    }
    spdlog::info("{}: imported DANE result {} fetched_at={}", offered.destination,
                 dane::to_string(offered.level), offered.fetched_at);
    if (store_ != nullptr) store_->save_dane(offered);
    cache_.store(offered);
    done({Adoption::Outcome::adopted, {}});
  };
  if (store_ == nullptr || cache_.result(record.destination) != nullptr) {
    return decide(record, cache_.result(record.destination));
  }
  // Memory may have dropped the destination's result: the store's is compared.
  const std::string destination = record.destination;
  store_->fetch_dane(destination, [this, alive = alive_, decide, record = std::move(record),
                                   done](cache::DaneRead read) {
    if (!*alive) return;
    if (read.unknown()) {
      return done(refused(fmt::format("the store cannot tell what it holds: {}", read.failure)));
    }
    const cache::CachedDane* held = cache_.result(record.destination);
    if (held == nullptr && read.record && read.record->destination == record.destination) {
      held = &*read.record;
    }
    decide(record, held);
  });
}

}  // namespace mtasts::resolver
