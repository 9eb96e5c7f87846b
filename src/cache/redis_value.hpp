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
// malformed header, inconsistent times, or a body parse_policy rejects.
std::optional<CachedPolicy> decode_redis_value(const std::string& domain, std::string_view value,
                                               std::string& why);

std::string encode_redis_dane_value(const CachedDane& dane);

// The DANE result for `destination`, or std::nullopt with `why` set: unknown
// version, malformed header, unknown level, or times out of order.
std::optional<CachedDane> decode_redis_dane_value(const std::string& destination,
                                                  std::string_view value, std::string& why);

}  // namespace mtasts::cache
