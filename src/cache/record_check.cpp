#include "cache/record_check.hpp"

#include <fmt/format.h>
#include <algorithm>
#include <chrono>

#include "sts/policy.hpp"
#include "sts/txt_record.hpp"

namespace mtasts::cache {

namespace {

// What needs no parse: cheap, so a store full of junk costs little to reject.
std::optional<std::string> check_header(const CachedPolicy& record, std::int64_t now) {
  if (record.domain.empty()) return "no domain";
  // The id is compared with the TXT record's on every refresh (§3.1): one no
  // record can carry would make every check look like a policy change.
  if (!sts::is_valid_id(record.txt_id)) return "bad policy id";
  if (record.fetched_at < 0 || record.checked_at < 0) return "negative time";
  // A future fetch time would stretch the policy's life (expiry counts from it);
  // a future check time would keep it from ever being checked again.
  if (record.fetched_at > now + kMaxClockSkew) {
    return fmt::format("fetched in the future (fetched_at {})", record.fetched_at);
  }
  if (record.checked_at > now + kMaxClockSkew) {
    return fmt::format("checked in the future (checked_at {})", record.checked_at);
  }
  if (record.expires_at < record.fetched_at) {
    return fmt::format("expires before it was fetched (expires_at {}, fetched_at {})",
                       record.expires_at, record.fetched_at);
  }
  return std::nullopt;
}

// §3.2: "max_age: Max lifetime of the policy (plaintext non-negative integer
// seconds, maximum value of 31557600)"; the expiry counts from the fetch.
std::optional<std::string> check_lifetime(const CachedPolicy& record, const sts::Policy& parsed) {
  const auto max_age = std::min<std::int64_t>(parsed.max_age, sts::kMaxAgeLimit);
  // Both are >= 0 and expires_at >= fetched_at here: no overflow.
  if (record.expires_at - record.fetched_at > max_age) {
    return fmt::format("expires_at {} is past fetched_at {} + max_age {} (RFC 8461 3.2)",
                       record.expires_at, record.fetched_at, max_age);
  }
  return std::nullopt;
}

}  // namespace

std::optional<std::string> check_policy_record(const CachedPolicy& record, std::int64_t now) {
  if (auto why = check_header(record, now)) return why;
  auto parsed = sts::parse_policy(record.body);
  if (!parsed.policy) return "invalid policy: " + parsed.error;
  // The text is what stores persist and what TLSRPT reports; the fields are
  // what answers are made of. A record where they differ was not fetched.
  const auto& fields = record.policy;
  if (fields.mode != parsed.policy->mode) {
    return fmt::format("policy text says mode {}, the record mode {}",
                       sts::to_string(parsed.policy->mode), sts::to_string(fields.mode));
  }
  if (fields.max_age != parsed.policy->max_age) {
    return fmt::format("policy text says max_age {}, the record {}", parsed.policy->max_age,
                       fields.max_age);
  }
  if (fields.mx != parsed.policy->mx) return "policy text and the record differ in mx patterns";
  // Memory drops the lines (domain_cache.cpp); a store keeps them.
  if (!fields.lines.empty() && fields.lines != parsed.policy->lines) {
    return "policy text and the record differ in policy lines";
  }
  return check_lifetime(record, *parsed.policy);
}

std::optional<std::string> adopt_policy_record(CachedPolicy& record, std::int64_t now) {
  if (auto why = check_header(record, now)) return why;
  auto parsed = sts::parse_policy(record.body);
  if (!parsed.policy) return "invalid policy: " + parsed.error;
  if (auto why = check_lifetime(record, *parsed.policy)) return why;
  record.policy = std::move(*parsed.policy);
  return std::nullopt;
}

std::optional<std::string> check_dane_record(const CachedDane& record, std::int64_t now) {
  if (record.destination.empty()) return "no destination";
  if (record.fetched_at < 0) return "negative time";
  if (record.fetched_at > now + kMaxClockSkew) {
    return fmt::format("looked up in the future (fetched_at {})", record.fetched_at);
  }
  if (record.expires_at < record.fetched_at) {
    return fmt::format("expires before it was looked up (expires_at {}, fetched_at {})",
                       record.expires_at, record.fetched_at);
  }
  if (record.expires_at - record.fetched_at > kMaxDaneTtl) {
    return fmt::format("fresh for {} s, longer than any dane.max_ttl ({} s)",
                       record.expires_at - record.fetched_at, kMaxDaneTtl);
  }
  if (record.keep_until < record.expires_at) {
    return fmt::format("kept until before it expires (keep_until {}, expires_at {})",
                       record.keep_until, record.expires_at);
  }
  if (record.keep_until - record.expires_at > kMaxDaneStale) {
    return fmt::format("kept {} s past its expiry, longer than any dane.stale_ttl ({} s)",
                       record.keep_until - record.expires_at, kMaxDaneStale);
  }
  return std::nullopt;
}

std::int64_t wall_clock_now() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

bool LogOnce::first(std::string_view name, std::string_view reason) {
  std::string key;
  key.reserve(name.size() + reason.size() + 1);
  key.append(name).append(1, '\0').append(reason);
  std::lock_guard lock(mutex_);
  if (seen_.size() >= kMaxRemembered) seen_.clear();
  return seen_.insert(std::move(key)).second;
}

}  // namespace mtasts::cache
