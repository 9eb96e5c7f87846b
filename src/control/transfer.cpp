#include "control/transfer.hpp"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "control/protocol.hpp"
#include "sts/policy.hpp"

namespace mtasts::control {

namespace {

std::string shape_error(std::string_view field, std::string_view want) {
  return fmt::format("\"{}\" missing or not {}", field, want);
}

// The fields a record needs, each of its JSON type, or why not.
bool take_string(const Json& object, const char* field, std::string& out, std::string& error) {
  const auto it = object.find(field);
  if (it == object.end() || !it->is_string()) {
    error = shape_error(field, "a string");
    return false;
  }
  out = it->get<std::string>();
  return true;
}

bool take_time(const Json& object, const char* field, std::int64_t& out, std::string& error) {
  const auto it = object.find(field);
  if (it == object.end() || !it->is_number_integer()) {
    error = shape_error(field, "an integer (unix seconds)");
    return false;
  }
  if (it->is_number_unsigned() && it->get<std::uint64_t>() > INT64_MAX) {
    error = fmt::format("\"{}\" out of range", field);
    return false;
  }
  out = it->get<std::int64_t>();
  return true;
}

TransferLine decode_header(const Json& object) {
  const auto version = object.find("version");
  if (version == object.end() || !version->is_number_integer()) {
    return {shape_error("version", "an integer")};
  }
  // Compared at full width: a huge number must not wrap to the known version.
  const bool known = version->is_number_unsigned() ? version->get<std::uint64_t>() == kExportVersion
                                                   : version->get<std::int64_t>() == kExportVersion;
  if (!known) {
    return {fmt::format("export format version {} (this daemon reads version {})", version->dump(),
                        kExportVersion)};
  }
  ExportHeader header;
  header.version = kExportVersion;
  std::string error;
  if (!take_time(object, "exported_at", header.exported_at, error)) return {error};
  return {header};
}

TransferLine decode_policy(const Json& object) {
  cache::CachedPolicy p;
  std::string error;
  if (!take_string(object, "domain", p.domain, error) ||
      !take_string(object, "txt_id", p.txt_id, error) ||
      !take_string(object, "body", p.body, error) ||
      !take_time(object, "fetched_at", p.fetched_at, error) ||
      !take_time(object, "expires_at", p.expires_at, error) ||
      !take_time(object, "checked_at", p.checked_at, error)) {
    return {error};
  }
  return {std::move(p)};
}

TransferLine decode_dane(const Json& object) {
  cache::CachedDane d;
  std::string error, level;
  if (!take_string(object, "destination", d.destination, error) ||
      !take_string(object, "level", level, error) ||
      !take_string(object, "summary", d.summary, error) ||
      !take_time(object, "fetched_at", d.fetched_at, error) ||
      !take_time(object, "expires_at", d.expires_at, error) ||
      !take_time(object, "keep_until", d.keep_until, error)) {
    return {error};
  }
  const auto parsed = dane::parse_level(level);
  if (!parsed) return {std::string("\"level\" is not none, dane or dane-only")};
  d.level = *parsed;
  return {std::move(d)};
}

// The §3.2 fields of a parsed policy as policy text.
std::string rebuilt_text(const sts::Policy& policy) {
  std::string text = fmt::format("version: STSv1\nmode: {}\n", sts::to_string(policy.mode));
  for (const auto& mx : policy.mx) text += fmt::format("mx: {}\n", mx);
  return text + fmt::format("max_age: {}\n", policy.max_age);
}

}  // namespace

std::string export_header_line(std::int64_t exported_at) {
  return dump(
      Json{{"kind", kExportKind}, {"version", kExportVersion}, {"exported_at", exported_at}});
}

std::string policy_line(const cache::CachedPolicy& p) {
  return dump(Json{{"kind", "policy"},
                   {"domain", p.domain},
                   {"txt_id", p.txt_id},
                   {"body", p.body.empty() ? rebuilt_text(p.policy) : p.body},
                   {"fetched_at", p.fetched_at},
                   {"expires_at", p.expires_at},
                   {"checked_at", p.checked_at}});
}

std::string dane_line(const cache::CachedDane& d) {
  return dump(Json{{"kind", "dane"},
                   {"destination", d.destination},
                   {"level", dane::to_string(d.level)},
                   {"summary", d.summary},
                   {"fetched_at", d.fetched_at},
                   {"expires_at", d.expires_at},
                   {"keep_until", d.keep_until}});
}

TransferLine decode_transfer_line(std::string_view line) {
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  if (line.size() > kMaxTransferLine) {
    return {fmt::format("longer than {} bytes", kMaxTransferLine)};
  }
  Json object;
  try {
    object = Json::parse(line);
  } catch (const Json::exception& e) {
    // e.what() names the byte where parsing stopped, never the input itself.
    return {fmt::format("not JSON: {}", e.what())};
  }
  if (!object.is_object()) return {std::string("not a JSON object")};
  const auto kind = object.find("kind");
  if (kind == object.end() || !kind->is_string()) return {shape_error("kind", "a string")};
  const auto& name = kind->get_ref<const std::string&>();
  if (name == kExportKind) return decode_header(object);
  if (name == "policy") return decode_policy(object);
  if (name == "dane") return decode_dane(object);
  return {std::string("unknown kind (policy, dane or mta-stsd-export)")};
}

void ImportTally::refuse(std::size_t line, std::string reason) {
  ++refused;
  if (errors.size() < kMaxImportReasons) {
    if (reason.size() > kMaxReasonBytes) {
      reason.resize(kMaxReasonBytes);  // a cut UTF-8 sequence becomes U+FFFD in dump()
      reason += "...";
    }
    errors.push_back({line, std::move(reason)});
  } else {
    ++unreported;
  }
}

std::string import_reply_json(const ImportTally& tally) {
  Json errors = Json::array();
  for (const auto& e : tally.errors) errors.push_back(Json{{"line", e.line}, {"reason", e.reason}});
  return dump(Json{{"imported", tally.imported},
                   {"refused", tally.refused},
                   {"older", tally.older},
                   {"errors", std::move(errors)},
                   {"unreported", tally.unreported}});
}

}  // namespace mtasts::control
