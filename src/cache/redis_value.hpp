#pragma once
// The values Redis keys hold: one policy, or one DANE result. Versioned, so a
// later mta-stsd can change them, and parsed defensively: any daemon of the
// fleet (or anyone with access to Redis) may have written them.
//
//   policy: "v1\n" txt_id "\n" fetched_at "\n" expires_at "\n" checked_at "\n" body
//   DANE:   "v1\n" level "\n" fetched_at "\n" expires_at "\n" keep_until "\n" summary
//
// Times are decimal unix seconds; body is the policy as fetched, to the end;
// level is dane::to_string's form; summary runs to the end.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "cache/cached_dane.hpp"
#include "cache/cached_policy.hpp"

namespace mtasts::cache {

inline constexpr std::size_t kMaxRedisValue = 1 << 20;  // far above any policy fetch limit

// Empty when the policy cannot be written in this form (a txt_id with a line end).
std::optional<std::string> encode_redis_value(const CachedPolicy& policy);

// The policy for `domain`, or std::nullopt with `why` set: unknown version,
// malformed header, or a record check_policy_record (record_check.hpp) refuses
// at `now`: a fetch time in the future, an expiry past fetched_at + max_age, a
// body parse_policy rejects, a bad id.
std::optional<CachedPolicy> decode_redis_value(const std::string& domain, std::string_view value,
                                               std::int64_t now, std::string& why);
// The same, checked against the system clock.
std::optional<CachedPolicy> decode_redis_value(const std::string& domain, std::string_view value,
                                               std::string& why);

std::string encode_redis_dane_value(const CachedDane& dane);

// The DANE result for `destination`, or std::nullopt with `why` set: unknown
// version, malformed header, unknown level, or a record check_dane_record
// refuses at `now` (times out of order or in the future, kept too long).
std::optional<CachedDane> decode_redis_dane_value(const std::string& destination,
                                                  std::string_view value, std::int64_t now,
                                                  std::string& why);
std::optional<CachedDane> decode_redis_dane_value(const std::string& destination,
                                                  std::string_view value, std::string& why);

}  // namespace mtasts::cache
