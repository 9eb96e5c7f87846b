#include "resolver/domain_cache.hpp"

#include "resolver/answer.hpp"

namespace mtasts::resolver {

DomainCache::DomainCache(std::size_t capacity, std::vector<sts::AnswerOptions> answer_classes)
    : capacity_(capacity == 0 ? 1 : capacity), classes_(std::move(answer_classes)) {
  if (classes_.empty()) classes_.emplace_back();
  entries_.reserve(capacity_ < 1'000'000 ? capacity_ : 1'000'000);
}

DomainCache::Entry* DomainCache::find(std::string_view domain) {
  auto it = entries_.find(domain);
  return it == entries_.end() ? nullptr : &it->second;
}

DomainCache::Entry& DomainCache::find_or_create(std::string_view domain) {
  if (auto* entry = find(domain)) return *entry;
  // New entries start negative; store_policy moves them to the positive list.
  auto [it, inserted] = entries_.try_emplace(std::string(domain));
  negative_lru_.push_front(&it->first);  // map nodes never move: the key outlives the node
  it->second.lru = negative_lru_.begin();
  evict_if_needed();
  return *find(domain);
}

void DomainCache::make_positive(Entry& entry) {
  // splice keeps the node (and the iterator) valid: no allocation on the way.
  positive_lru_.splice(positive_lru_.begin(), negative_lru_, entry.lru);
}

void DomainCache::evict_if_needed() {
  while (entries_.size() > capacity_) {
    // Forget "no policy" knowledge before any learned policy: losing a negative
    // entry costs one lookup, losing a policy reopens a downgrade window (§10.2).
    auto& list = negative_lru_.size() > 1 || positive_lru_.empty() ? negative_lru_ : positive_lru_;
    if (list.empty()) return;
    auto victim = entries_.find(*list.back());
    list.pop_back();
    entries_.erase(victim);
  }
}

DomainCache::Lookup DomainCache::lookup(std::string_view domain, std::size_t answer_class,
                                        std::int64_t now, std::uint32_t cache_grace) {
  Lookup result;
  auto* entry = find(domain);
  if (entry == nullptr) return result;
  if (entry->policy) {
    const auto& policy = *entry->policy;
    if (now < policy.expires_at) {
      // §5.1: an unexpired cached policy answers at once; a check of the TXT id
      // after cache_grace runs in the background (stale-while-revalidate).
      positive_lru_.splice(positive_lru_.begin(), positive_lru_, entry->lru);
      result.kind = Lookup::Kind::hit;
      const std::size_t index = answer_class < entry->answers.size() ? answer_class : 0;
      result.answer = entry->answers[index];
      result.enforced = sts_enforced(policy.policy, classes_[index]);
      result.revalidate = now >= policy.checked_at + static_cast<std::int64_t>(cache_grace) &&
                          now >= entry->retry_after;
      // Past half its lifetime, refetch even when the id is unchanged, so a
      // policy does not expire while its domain is still sending us mail.
      const bool aging =
          now >= policy.fetched_at + static_cast<std::int64_t>(policy.policy.max_age) / 2;
      result.known_id = aging ? std::string_view{} : std::string_view{policy.txt_id};
      return result;
    }
    // §5.1: an expired policy is not used. It is kept (as a negative-less miss)
    // until a discovery replaces or drops it.
    return result;
  }
  if (now < entry->negative_until) {
    negative_lru_.splice(negative_lru_.begin(), negative_lru_, entry->lru);
    result.kind = Lookup::Kind::negative;
    result.answer = sts::kNotFound;
  }
  return result;
}

void DomainCache::set_answer_classes(std::vector<sts::AnswerOptions> classes) {
  if (classes.empty()) classes.emplace_back();
  classes_ = std::move(classes);
  for (auto& [domain, entry] : entries_) {
    if (!entry.policy) continue;
    entry.answers.clear();
    for (const auto& options : classes_) {
      entry.answers.push_back(
          sts::render_policy_answer_checked(entry.policy->policy, entry.policy->domain, options)
              .text);
    }
  }
}

std::string DomainCache::store_policy(cache::CachedPolicy policy) {
  auto& entry = find_or_create(policy.domain);
  if (!entry.policy) make_positive(entry);
  entry.answers.clear();
  entry.answers.reserve(classes_.size());
  std::string capped;
  for (const auto& options : classes_) {
    auto rendered = sts::render_policy_answer_checked(policy.policy, policy.domain, options);
    if (capped.empty()) capped = sts::describe_capped_answer(rendered, policy.domain, options);
    entry.answers.push_back(std::move(rendered.text));
  }
  // The answers are rendered and the stores hold the text as fetched: memory
  // keeps only what lookups, refreshes and mta-stsctl read. The body and its
  // lines are most of a policy's size.
  std::string().swap(policy.body);
  std::vector<std::string>().swap(policy.policy.lines);
  policy.policy.mx.shrink_to_fit();
  entry.policy = std::move(policy);
  entry.negative_until = 0;
  entry.retry_after = 0;
  entry.failures = 0;
  return capped;
}

void DomainCache::confirm(std::string_view domain, std::int64_t now) {
  if (auto* entry = find(domain); entry && entry->policy) {
    entry->policy->checked_at = now;
    entry->retry_after = 0;
    entry->failures = 0;
  }
}

std::uint32_t DomainCache::record_failure(std::string_view domain, std::int64_t retry_after) {
  auto* entry = find(domain);
  if (entry == nullptr || !entry->policy) return 0;
  entry->retry_after = retry_after;
  return ++entry->failures;
}

void DomainCache::store_negative(std::string_view domain, std::int64_t now, std::int64_t until) {
  if (auto* entry = find(domain); entry && entry->policy && now < entry->policy->expires_at) {
    entry->retry_after = until;
    return;
  }
  auto& entry = find_or_create(domain);
  if (entry.policy) {
    // An expired policy must not be used (§5.1): the domain becomes negative.
    negative_lru_.splice(negative_lru_.begin(), positive_lru_, entry.lru);
    entry.policy.reset();
    entry.answers.clear();
  }
  entry.negative_until = until;
}

bool DomainCache::erase(std::string_view domain) {
  auto it = entries_.find(domain);
  if (it == entries_.end()) return false;
  (it->second.policy ? positive_lru_ : negative_lru_).erase(it->second.lru);
  entries_.erase(it);
  return true;
}

std::vector<DomainCache::RefreshCandidate> DomainCache::refresh_candidates(
    std::int64_t now, std::int64_t min_age, std::int64_t horizon) const {
  std::vector<RefreshCandidate> out;
  for (const auto& [domain, entry] : entries_) {
    if (!entry.policy || now < entry.retry_after) continue;
    const auto& p = *entry.policy;
    if (now >= p.expires_at) continue;  // expired: the next query rediscovers it
    const bool expiring = p.expires_at <= now + horizon;
    const bool aging = now >= p.fetched_at + static_cast<std::int64_t>(p.policy.max_age) / 2;
    if (!expiring && now < p.checked_at + min_age) continue;
    out.push_back({domain, expiring || aging ? std::string{} : p.txt_id});
  }
  return out;
}

const cache::CachedPolicy* DomainCache::policy(std::string_view domain, std::int64_t now) const {
  auto it = entries_.find(domain);
  if (it == entries_.end() || !it->second.policy || now >= it->second.policy->expires_at) {
    return nullptr;
  }
  return &*it->second.policy;
}

const std::string& DomainCache::answer_for(const cache::CachedPolicy& policy,
                                           std::size_t answer_class) const {
  auto it = entries_.find(policy.domain);
  static const std::string not_found{sts::kNotFound};
  if (it == entries_.end() || it->second.answers.empty()) return not_found;
  const auto& answers = it->second.answers;
  return answers[answer_class < answers.size() ? answer_class : 0];
}

}  // namespace mtasts::resolver
