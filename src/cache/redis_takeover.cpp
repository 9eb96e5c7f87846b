#include "cache/redis_takeover.hpp"

#include <hiredis/hiredis.h>
#include <spdlog/spdlog.h>

#include <cmath>
#include <cstdlib>
#include <optional>
#include <string_view>
#include <vector>

#include "cache/takeover_entry.hpp"
#include "util/log_text.hpp"

namespace mtasts::cache {

namespace {

constexpr std::size_t kMaxLogged = 10;
constexpr const char* kTakeoverScanBatch = "1000";

std::string_view text(const redisReply* reply) { return {reply->str, reply->len}; }

// redis-py wrote time.time(), a float; floored like SQLite's int(ts).
std::optional<std::int64_t> score_seconds(std::string_view score) {
  const std::string copy(score);
  char* end = nullptr;
  const double v = std::strtod(copy.c_str(), &end);
  if (copy.empty() || end != copy.c_str() + copy.size() || !std::isfinite(v) ||
      std::fabs(v) > 9.0e15) {
    return std::nullopt;
  }
  return static_cast<std::int64_t>(std::floor(v));
}

// One ZREVRANGE ... WITHSCORES reply (RESP2: member, score) as an entry of ours.
TakeoverResult convert(const std::string& domain, const redisReply* reply, std::int64_t now) {
  TakeoverResult result;
  if (reply == nullptr || reply->type != REDIS_REPLY_ARRAY || reply->elements != 2 ||
      reply->element[0]->type != REDIS_REPLY_STRING ||
      reply->element[1]->type != REDIS_REPLY_STRING) {
    result.error = "not a ZSET of one scored member";
    return result;
  }
  const auto ts = score_seconds(text(reply->element[1]));
  if (!ts) {
    result.error = "its score (ts) is not a number";
    return result;
  }
  std::string pol_id, pol_body;
  if (!split_redis_member(text(reply->element[0]), pol_id, pol_body, result.error)) return result;
  return take_over_entry({domain, *ts, pol_id, pol_body}, now);
}

}  // namespace

RedisTakeoverCounts take_over_resolver_keys(RedisSyncClient& client, const std::string& where,
                                            const std::string& policy_prefix,
                                            const std::string& dane_prefix, std::int64_t now,
                                            const std::function<bool(const std::string&)>& has_own,
                                            const std::function<void(CachedPolicy)>& take) {
  RedisTakeoverCounts counts;
  std::size_t logged = 0;
  std::string cursor = "0";
  do {
    auto scan = client.command({"SCAN", cursor, "COUNT", kTakeoverScanBatch, "TYPE", "zset"});
    if (!scan || scan->type != REDIS_REPLY_ARRAY || scan->elements != 2 ||
        scan->element[0]->type != REDIS_REPLY_STRING ||
        scan->element[1]->type != REDIS_REPLY_ARRAY) {
      spdlog::warn("redis {}: cannot read postfix-mta-sts-resolver's keys ({}); took over {}",
                   where, client.error().empty() ? "SCAN failed" : client.error(), counts.taken);
      return counts;
    }
    cursor.assign(text(scan->element[0]));
    std::vector<std::string> domains;
    for (std::size_t i = 0; i < scan->element[1]->elements; ++i) {
      const redisReply* key = scan->element[1]->element[i];
      if (key->type != REDIS_REPLY_STRING) continue;
      std::string name(text(key));
      if (name.rfind(policy_prefix, 0) == 0 || name.rfind(dane_prefix, 0) == 0) continue;
      domains.push_back(std::move(name));
    }
    // Pipelined: one round trip per SCAN batch, not per key.
    for (const auto& domain : domains) {
      if (!client.append({"ZREVRANGE", domain, "0", "0", "WITHSCORES"})) break;
    }
    for (const auto& domain : domains) {
      auto reply = client.next_reply();
      if (!reply) {
        spdlog::warn("redis {}: reading postfix-mta-sts-resolver's keys failed ({}); took over {}",
                     where, client.error(), counts.taken);
        return counts;
      }
      ++counts.entries;
      auto result = convert(domain, reply.get(), now);
      if (result.policy) {
        if (has_own(result.policy->domain)) {
          ++counts.ours;
        } else {
          ++counts.taken;
          take(std::move(*result.policy));
        }
      } else if (result.expired) {
        ++counts.expired;
      } else {
        ++counts.unusable;
        if (logged++ < kMaxLogged) {
          spdlog::warn("redis {}: postfix-mta-sts-resolver's key '{}' not taken over: {}", where,
                       util::log_text(domain), result.error);
        }
      }
    }
  } while (cursor != "0");
  if (counts.entries > 0) {
    spdlog::info(
        "redis {}: took over {} policies from postfix-mta-sts-resolver's keys (left as they "
        "were); skipped {}: {} expired (not revived), {} unusable (named above), {} already "
        "under keys of our own",
        where, counts.taken, counts.entries - counts.taken, counts.expired, counts.unusable,
        counts.ours);
  }
  return counts;
}

}  // namespace mtasts::cache
