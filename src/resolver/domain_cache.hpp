#pragma once
// The in-memory policy cache: every answer Postfix gets for a known domain comes
// from here, pre-rendered, without I/O. Pure logic: time is passed in.
//
// Two kinds of entries share one bounded map: positive ones hold a learned policy
// (any mode, RFC 8461 §5.1) and its rendered answers; negative ones remember for a
// while that a domain has no usable policy, so a burst of mail to a domain without
// MTA-STS (or with a broken one) does not hammer its DNS and web server.
// Beyond capacity the least recently used entries go, negative ones first.
#include <cstddef>
#include <cstdint>
#include <list>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "cache/cached_policy.hpp"
#include "sts/answer.hpp"
#include "util/string_map.hpp"

namespace mtasts::resolver {

class DomainCache {
 public:
  // answer_classes: one rendering per distinct set of zone answer options; a
  // zone maps to its class index.
  DomainCache(std::size_t capacity, std::vector<sts::AnswerOptions> answer_classes);

  struct Lookup {
    enum class Kind {
      hit,       // answer is the cached policy's rendered answer
      negative,  // no usable policy is known; answer "NOTFOUND "
      miss,      // nothing (or only an expired policy): a discovery is needed
    };
    Kind kind = Kind::miss;
    std::string_view answer;  // valid until the cache is next modified
    // A background check is due (cache_grace elapsed and no back-off pending).
    bool revalidate = false;
    // The id to compare with on revalidation; empty forces a refetch.
    std::string_view known_id;
    // hit: the answer authenticates every MX ("OK secure ..."), see sts_enforced.
    bool enforced = false;
  };

  // cache_grace: seconds after the last check before the TXT id is checked again.
  Lookup lookup(std::string_view domain, std::size_t answer_class, std::int64_t now,
                std::uint32_t cache_grace);

  // A policy was fetched (or loaded from a store): replaces what was there,
  // including a cached policy of another mode (§8.3: a new `none` policy wins).
  // Memory keeps the rendered answers, not the body or its lines. Returns ""
  // or, when an answer had to leave attributes out to stay within Postfix's
  // reply limit, the line to log (once, by the caller).
  std::string store_policy(cache::CachedPolicy policy);
  // The TXT id is unchanged (§3.1): the cached policy stays current.
  void confirm(std::string_view domain, std::int64_t now);
  // A refresh failed while a policy is cached: keep serving it (§3.3) and do not
  // try again before retry_after. Returns the consecutive failure count.
  std::uint32_t record_failure(std::string_view domain, std::int64_t retry_after);
  // Nothing usable: remember that until `until` (negative entry). When an
  // unexpired policy is cached it keeps answering (§3.3) and `until` only delays
  // the next attempt.
  void store_negative(std::string_view domain, std::int64_t now, std::int64_t until);
  bool erase(std::string_view domain);

  struct RefreshCandidate {
    std::string domain;
    std::string known_id;  // empty: refetch regardless of the TXT id
  };
  // Proactive refresh (RFC 8461 §3.3, §10.2): cached policies last checked at
  // least min_age seconds ago, or expiring within horizon seconds, and not in
  // back-off. Those that expire within the horizon or are past half their
  // lifetime are refetched; the others only have their TXT id checked.
  std::vector<RefreshCandidate> refresh_candidates(std::int64_t now, std::int64_t min_age,
                                                   std::int64_t horizon) const;

  // The cached unexpired policy, if any (body and policy.lines are not kept).
  const cache::CachedPolicy* policy(std::string_view domain, std::int64_t now) const;
  std::size_t size() const { return entries_.size(); }
  std::size_t positive_count() const { return positive_lru_.size(); }
  std::size_t negative_count() const { return negative_lru_.size(); }
  const std::string& answer_for(const cache::CachedPolicy& policy, std::size_t answer_class) const;
  std::size_t answer_class_count() const { return classes_.size(); }
  // A reload changed the zones' answer options: every cached policy's answers
  // are rendered again. Memory keeps no policy lines, so a new tlsrpt class has
  // no policy_string until the policy is next fetched (the rest is all there).
  void set_answer_classes(std::vector<sts::AnswerOptions> classes);

  template <typename F>
  void for_each_policy(F&& f) const {
    for (const auto& [domain, entry] : entries_) {
      if (entry.policy) f(*entry.policy);
    }
  }
  // The same, with the consecutive failed refreshes of each (0: the last worked).
  template <typename F>
  void for_each_policy_with_failures(F&& f) const {
    for (const auto& [domain, entry] : entries_) {
      if (entry.policy) f(*entry.policy, entry.failures);
    }
  }

 private:
  struct Entry {
    std::optional<cache::CachedPolicy> policy;
    std::vector<std::string> answers;  // per answer class
    std::int64_t negative_until = 0;
    std::int64_t retry_after = 0;
    std::uint32_t failures = 0;
    std::list<const std::string*>::iterator lru;  // in positive_lru_ or negative_lru_
  };
  using Map = util::StringMap<Entry>;

  Entry* find(std::string_view domain);
  Entry& find_or_create(std::string_view domain);
  void make_positive(Entry& entry);
  void evict_if_needed();

  std::size_t capacity_;
  std::vector<sts::AnswerOptions> classes_;
  Map entries_;
  // Front = most recently used; each points at its entry's key in entries_.
  std::list<const std::string*> positive_lru_;
  std::list<const std::string*> negative_lru_;
};

}  // namespace mtasts::resolver
