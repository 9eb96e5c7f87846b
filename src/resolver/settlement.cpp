#include "resolver/settlement.hpp"

#include <spdlog/spdlog.h>

#include "resolver/downgrade.hpp"

namespace mtasts::resolver {

void Settlement::learn(const std::string& domain, const DiscoveryResult& result, std::int64_t now) {
  if (const auto* before = cache_.policy(domain, now)) {
    if (observer_ != nullptr) observer_->refreshed(RefreshOutcome::updated);
    alarms_.policy_changed(domain, *before, *result.policy, now);
  }
  cache::CachedPolicy policy;
  policy.domain = domain;
  policy.txt_id = result.txt_id;
  policy.body = result.body;
  policy.policy = *result.policy;
  policy.fetched_at = now;
  policy.expires_at = now + static_cast<std::int64_t>(result.policy->max_age);
  policy.checked_at = now;
  std::string mx;
  for (const auto& p : policy.policy.mx) mx += mx.empty() ? p : "," + p;
  spdlog::info("{}: learned policy id={} mode={} max_age={} mx={}", domain, policy.txt_id,
               sts::to_string(policy.policy.mode), policy.policy.max_age, mx);
  if (store_ != nullptr) store_->save(policy);
  // §8.3: whatever was cached (even enforce) is replaced, `none` included.
  if (const auto capped = cache_.store_policy(std::move(policy)); !capped.empty()) {
    spdlog::warn("{}", capped);
  }
}

void Settlement::keep(const std::string& domain, const DiscoveryResult& result,
                      const cache::CachedPolicy& kept, std::int64_t now) {
  if (result.outcome == DiscoveryResult::Outcome::unchanged) {
    spdlog::debug("{}: policy id unchanged", domain);
    cache_.confirm(domain, now);
    // The store's copy too: its sweep must not pick the policy again.
    if (store_ != nullptr) store_->confirm(domain, kept.txt_id, now);
    if (observer_ != nullptr) observer_->refreshed(RefreshOutcome::unchanged);
    alarms_.refresh_confirmed(domain);
    return;
  }
  if (observer_ != nullptr) observer_->refreshed(RefreshOutcome::failed_kept);
  back_off(domain, result, kept, now);
  alarms_.refresh_failed(domain, result, kept, settings_.alarms, now);
}

void Settlement::back_off(const std::string& domain, const DiscoveryResult& result,
                          const cache::CachedPolicy& kept, std::int64_t now) {
  // §3.3 / §10.2: an unexpired cached policy keeps applying when discovery
  // fails or the TXT record disappears; try again only after the back-off.
  const auto mode = sts::to_string(kept.policy.mode);
  const auto expires = describe_expiry(kept.expires_at, now);
  const bool none = kept.policy.mode == sts::Mode::none;
  const auto failures = cache_.record_failure(domain, now + settings_.retry_interval);
  if (none) {
    spdlog::info("{}: refresh failed ({}); keeping cached mode {} policy", domain, result.reason,
                 mode);
  } else {
    spdlog::warn(
        "{}: refresh failed ({}); keeping cached mode {} policy, expires in {}, "
        "{} consecutive failure(s)",
        domain, result.reason, mode, expires, failures);
  }
}

void Settlement::remember_none(const std::string& domain, const DiscoveryResult& failed,
                               std::int64_t now) {
  using Outcome = DiscoveryResult::Outcome;
  const std::uint32_t wait = failed.outcome == Outcome::temp_failure ? settings_.temp_failure_ttl
                             : failed.outcome == Outcome::no_policy  ? settings_.negative_ttl
                                                                     : settings_.retry_interval;
  spdlog::info("{}: no usable MTA-STS policy ({}: {}); remembered for {}s", domain,
               to_string(failed.outcome), failed.reason, wait);
  cache_.store_negative(domain, now, now + wait);
}

void Settlement::store_unknown(const std::string& domain, DiscoveryResult& result,
                               const std::string& store_failure) {
  using Outcome = DiscoveryResult::Outcome;
  if (result.outcome == Outcome::policy || result.outcome == Outcome::unchanged) return;
  // Even "no MTA-STS record" (§3.3, §10.2: a cached policy outlives its TXT
  // record, and a forged NXDOMAIN is the attack). This is an abnormal state (the
  // local tier unreadable; Redis without one, and down), logged on every such
  // answer; nothing is remembered, so the next query asks the store again.
  ++stats_.store_unknown_temp;
  result.store_unknown = true;
  spdlog::warn(
      "{}: {} ({}), and {}: it may hold this domain's policy, so the answer is TEMP, "
      "not NOTFOUND",
      domain, to_string(result.outcome), result.reason, store_failure);
  result.reason += "; " + store_failure;
}

}  // namespace mtasts::resolver
