#include "cache/redis_value.hpp"

#include <charconv>

#include "cache/record_check.hpp"
#include "sts/txt_record.hpp"

namespace mtasts::cache {

namespace {

constexpr std::string_view kVersion = "v1";

// Takes the text up to the next LF off `rest`; false when there is none.
bool next_line(std::string_view& rest, std::string_view& line) {
  const auto lf = rest.find('\n');
  if (lf == std::string_view::npos) return false;
  line = rest.substr(0, lf);
  rest = rest.substr(lf + 1);
  return true;
}

bool parse_time(std::string_view text, std::int64_t& out) {
  const auto* end = text.data() + text.size();
  auto [ptr, ec] = std::from_chars(text.data(), end, out);
  return !text.empty() && ec == std::errc{} && ptr == end && out >= 0;
}

}  // namespace

std::optional<std::string> encode_redis_value(const CachedPolicy& policy) {
  // Exactly what decode accepts, so that every value written reads back.
  if (!sts::is_valid_id(policy.txt_id)) return std::nullopt;
  std::string value;
  value.reserve(policy.body.size() + policy.txt_id.size() + 48);
  value.append(kVersion).append("\n");
  value.append(policy.txt_id).append("\n");
  value.append(std::to_string(policy.fetched_at)).append("\n");
  value.append(std::to_string(policy.expires_at)).append("\n");
  value.append(std::to_string(policy.checked_at)).append("\n");
  value.append(policy.body);
  return value;
}

std::optional<CachedPolicy> decode_redis_value(const std::string& domain, std::string_view value,
                                               std::int64_t now, std::string& why) {
  if (value.size() > kMaxRedisValue) {
    why = "value of " + std::to_string(value.size()) + " bytes is too large";
    return std::nullopt;
  }
  std::string_view rest = value;
  std::string_view version, txt_id, fetched, expires, checked;
  if (!next_line(rest, version) || version != kVersion) {
    why = "not an mta-stsd v1 value";
    return std::nullopt;
  }
  if (!next_line(rest, txt_id) || !next_line(rest, fetched) || !next_line(rest, expires) ||
      !next_line(rest, checked)) {
    why = "truncated header";
    return std::nullopt;
  }
  CachedPolicy policy;
  if (!parse_time(fetched, policy.fetched_at) || !parse_time(expires, policy.expires_at) ||
      !parse_time(checked, policy.checked_at)) {
    why = "bad time field";
    return std::nullopt;
  }
  policy.domain = domain;
  policy.txt_id = std::string(txt_id);
  policy.body = std::string(rest);
  // Anyone with write access to Redis wrote this: the one check every stored
  // record passes (id, times, max_age bound, the body re-parsed).
  if (auto reason = adopt_policy_record(policy, now)) {
    why = std::move(*reason);
    return std::nullopt;
  }
  return policy;
}

std::optional<CachedPolicy> decode_redis_value(const std::string& domain, std::string_view value,
                                               std::string& why) {
  return decode_redis_value(domain, value, wall_clock_now(), why);
}

std::string encode_redis_dane_value(const CachedDane& dane) {
  const auto level = dane::to_string(dane.level);
  std::string value;
  value.reserve(dane.summary.size() + level.size() + 48);
  value.append(kVersion).append("\n");
  value.append(level).append("\n");
  value.append(std::to_string(dane.fetched_at)).append("\n");
  value.append(std::to_string(dane.expires_at)).append("\n");
  value.append(std::to_string(dane.keep_until)).append("\n");
  value.append(dane.summary);
  return value;
}

std::optional<CachedDane> decode_redis_dane_value(const std::string& destination,
                                                  std::string_view value, std::int64_t now,
                                                  std::string& why) {
  if (value.size() > kMaxRedisValue) {
    why = "value of " + std::to_string(value.size()) + " bytes is too large";
    return std::nullopt;
  }
  std::string_view rest = value;
  std::string_view version, level, fetched, expires, keep;
  if (!next_line(rest, version) || version != kVersion) {
    why = "not an mta-stsd v1 value";
    return std::nullopt;
  }
  if (!next_line(rest, level) || !next_line(rest, fetched) || !next_line(rest, expires) ||
      !next_line(rest, keep)) {
    why = "truncated header";
    return std::nullopt;
  }
  CachedDane dane;
  const auto parsed_level = dane::parse_level(level);
  if (!parsed_level) {
    why = "unknown DANE level";
    return std::nullopt;
  }
  if (!parse_time(fetched, dane.fetched_at) || !parse_time(expires, dane.expires_at) ||
      !parse_time(keep, dane.keep_until)) {
    why = "bad time field";
    return std::nullopt;
  }
  dane.destination = destination;
  dane.level = *parsed_level;
  dane.summary = std::string(rest);
  if (auto reason = check_dane_record(dane, now)) {
    why = std::move(*reason);
    return std::nullopt;
  }
  return dane;
}

std::optional<CachedDane> decode_redis_dane_value(const std::string& destination,
                                                  std::string_view value, std::string& why) {
  return decode_redis_dane_value(destination, value, wall_clock_now(), why);
}

}  // namespace mtasts::cache
