#include "cache/takeover_entry.hpp"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "cache/record_check.hpp"
#include "sts/policy.hpp"
#include "sts/query_key.hpp"
#include "util/log_text.hpp"

namespace mtasts::cache {

namespace {

// ordered_json: the object's keys in the order json.dumps wrote them (a Python
// dict keeps insertion order, so the order of the policy text's lines).
using Json = nlohmann::ordered_json;

// A line break inside a key or value would add a line of its own to the rebuilt
// text: an mx pattern the entry's mx list does not have. Python's splitlines()
// never leaves one there, so only a hand-made entry has it.
bool has_line_break(std::string_view text) { return text.find_first_of("\r\n") != text.npos; }

void add_line(std::string& text, std::string_view key, std::string_view value) {
  text.append(key).append(": ").append(value).append("\n");
}

// max_age as resolver.py stored it: int(text), checked 0..31557600 before caching.
std::optional<std::int64_t> whole_max_age(const Json& value) {
  if (value.is_number_unsigned()) {
    const auto v = value.get<std::uint64_t>();
    if (v <= sts::kMaxAgeLimit) return static_cast<std::int64_t>(v);
  } else if (value.is_number_integer()) {
    const auto v = value.get<std::int64_t>();
    if (v >= 0 && v <= sts::kMaxAgeLimit) return v;
  }
  return std::nullopt;
}

}  // namespace

std::optional<std::string> rebuild_policy_text(std::string_view pol_body, std::string& error) {
  if (pol_body.size() > kMaxTakeoverBody) {
    error = fmt::format("pol_body of {} bytes (more than {})", pol_body.size(), kMaxTakeoverBody);
    return std::nullopt;
  }
  Json body;
  try {
    body = Json::parse(pol_body);
  } catch (const Json::parse_error& e) {
    error = fmt::format("pol_body is not JSON ({})", e.what());
    return std::nullopt;
  }
  if (!body.is_object()) {
    error = fmt::format("pol_body is a JSON {}, not an object", body.type_name());
    return std::nullopt;
  }
  std::string text;
  auto string_field = [&](const char* key) -> bool {
    const auto it = body.find(key);
    if (it == body.end()) return true;  // missing: the policy parse names it
    if (!it->is_string()) {
      error = fmt::format("{} is a JSON {}, not a string", key, it->type_name());
      return false;
    }
    const auto& value = it->get_ref<const std::string&>();
    if (has_line_break(value)) {
      error = fmt::format("{} contains a line break", key);
      return false;
    }
    add_line(text, key, value);
    return true;
  };
  if (!string_field("version") || !string_field("mode")) return std::nullopt;
  if (const auto mx = body.find("mx"); mx != body.end()) {
    if (!mx->is_array()) {
      error = fmt::format("mx is a JSON {}, not a list", mx->type_name());
      return std::nullopt;
    }
    for (const auto& pattern : *mx) {
      if (!pattern.is_string() || has_line_break(pattern.get_ref<const std::string&>())) {
        error = "mx holds something other than a one-line string";
        return std::nullopt;
      }
      add_line(text, "mx", pattern.get_ref<const std::string&>());
    }
  }
  if (const auto max_age = body.find("max_age"); max_age != body.end()) {
    const auto seconds = whole_max_age(*max_age);
    if (!seconds) {
      error = fmt::format("max_age {} is not a whole number of seconds in 0..{}",
                          util::log_text(max_age->dump()), sts::kMaxAgeLimit);
      return std::nullopt;
    }
    add_line(text, "max_age", std::to_string(*seconds));
  }
  for (const auto& [key, value] : body.items()) {
    if (key == "version" || key == "mode" || key == "mx" || key == "max_age") continue;
    if (!value.is_string()) {
      error = fmt::format("field '{}' is a JSON {}, not a string", util::log_text(key),
                          value.type_name());
      return std::nullopt;
    }
    const auto& text_value = value.get_ref<const std::string&>();
    if (key.empty() && text_value.empty()) continue;  // an empty line of the text
    if (has_line_break(key) || has_line_break(text_value)) {
      error = fmt::format("field '{}' contains a line break", util::log_text(key));
      return std::nullopt;
    }
    add_line(text, key, text_value);
  }
  return text;
}

TakeoverResult take_over_entry(const TakeoverEntry& entry, std::int64_t now) {
  TakeoverResult result;
  const auto key = sts::parse_query_key(entry.domain);
  if (key.kind != sts::QueryKey::Kind::domain || key.bracketed || key.port) {
    result.error = "not a policy domain" + (key.reason.empty() ? "" : " (" + key.reason + ")");
    return result;
  }
  auto body = rebuild_policy_text(entry.pol_body, result.error);
  if (!body) return result;
  CachedPolicy record;
  record.domain = key.domain;
  record.txt_id = std::string(entry.pol_id);
  record.body = std::move(*body);
  record.fetched_at = entry.ts;
  record.checked_at = entry.ts;
  // The expiry needs max_age, from the parse the record check repeats: a
  // second parse of at most 64 KiB, once per entry, at start-up only.
  const auto parsed = sts::parse_policy(record.body);
  if (!parsed.policy) {
    result.error = "invalid policy: " + parsed.error;
    return result;
  }
  if (entry.ts < 0 || entry.ts > now + kMaxClockSkew) {
    result.error =
        fmt::format("ts {} is {}", entry.ts, entry.ts < 0 ? "negative" : "in the future");
    return result;
  }
  record.expires_at = entry.ts + parsed.policy->max_age;
  if (record.expired(now)) {
    result.expired = true;
    return result;
  }
  if (auto why = adopt_policy_record(record, now)) {
    result.error = std::move(*why);
    return result;
  }
  result.policy = std::move(record);
  return result;
}

bool split_redis_member(std::string_view member, std::string& pol_id, std::string& pol_body,
                        std::string& error) {
  constexpr std::size_t kSeed = 16;  // uuid.uuid4().bytes
  if (member.size() <= kSeed || member.size() > kMaxTakeoverBody) {
    error = fmt::format("a member of {} bytes is not 16 bytes and a JSON pair", member.size());
    return false;
  }
  Json pair;
  try {
    pair = Json::parse(member.substr(kSeed));
  } catch (const Json::parse_error& e) {
    error = fmt::format("the member is not JSON ({})", e.what());
    return false;
  }
  if (!pair.is_array() || pair.size() != 2 || !pair[0].is_string()) {
    error = "the member is not a JSON pair [pol_id, pol_body]";
    return false;
  }
  pol_id = pair[0].get<std::string>();
  pol_body = pair[1].dump();  // checked by take_over_entry like SQLite's column
  return true;
}

}  // namespace mtasts::cache
