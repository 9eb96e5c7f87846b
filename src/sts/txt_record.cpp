#include "sts/txt_record.hpp"

#include <fmt/format.h>

#include "sts/abnf.hpp"
#include "sts/excerpt.hpp"

namespace mtasts::sts {

namespace {

// §3.1: sts-version = %s"v=STSv1" (case-sensitive).
constexpr std::string_view kVersion = "v=STSv1";
// §3.1: sts-id = %s"id=" 1*32(ALPHA / DIGIT).
constexpr std::string_view kIdName = "id";
constexpr std::size_t kMaxIdLength = 32;

// §3.1: sts-ext-value = 1*(%x21-3A / %x3C / %x3E-7E), i.e. VCHAR minus ";" and "=".
constexpr bool is_ext_value_char(char c) {
  const auto u = abnf::octet(c);
  return (u >= 0x21 && u <= 0x3a) || u == 0x3c || (u >= 0x3e && u <= 0x7e);
}

std::size_t skip_wsp(std::string_view text, std::size_t pos) {
  while (pos < text.size() && abnf::is_wsp(text[pos])) ++pos;
  return pos;
}

std::size_t skip_while(std::string_view text, std::size_t pos, bool (*accept)(char)) {
  while (pos < text.size() && accept(text[pos])) ++pos;
  return pos;
}

TxtParseResult txt_failure(std::string reason) { return {std::nullopt, std::move(reason)}; }

}  // namespace

bool has_sts_version_prefix(std::string_view text) {
  // §3.1: the record begins with sts-version, then an sts-field-delim
  // (*WSP ";") or nothing; "v=STSv10" is another version, not STSv1.
  if (!text.starts_with(kVersion)) return false;
  if (text.size() == kVersion.size()) return true;
  const char next = text[kVersion.size()];
  return next == ';' || abnf::is_wsp(next);
}

bool is_valid_id(std::string_view id) {
  if (id.empty() || id.size() > kMaxIdLength) return false;
  for (const char c : id) {
    if (!abnf::is_alnum(c)) return false;
  }
  return true;
}

TxtParseResult parse_txt_record(std::string_view text) {
  if (!has_sts_version_prefix(text)) return txt_failure("record does not begin with v=STSv1");

  TxtRecord record;
  bool have_id = false;
  std::size_t fields = 0;
  std::size_t pos = kVersion.size();
  // §3.1: sts-text-record = sts-version 1*(sts-field-delim sts-field) [sts-field-delim]
  while (pos < text.size()) {
    // §3.1: sts-field-delim = *WSP ";" *WSP
    std::size_t p = skip_wsp(text, pos);
    if (p == text.size() || text[p] != ';') {
      return txt_failure(fmt::format("expected ';' at offset {}", p));
    }
    p = skip_wsp(text, p + 1);
    if (p == text.size()) break;  // §3.1: the trailing delimiter is optional

    // §3.1: sts-field = sts-id / sts-extension; both are NAME "=" VALUE.
    const std::size_t name_end = skip_while(text, p, abnf::is_ext_name_char);
    const std::string_view name = text.substr(p, name_end - p);
    if (!abnf::is_ext_name(name)) {
      return txt_failure(fmt::format("bad field name '{}' at offset {}",
                                     excerpt(text.substr(p, name_end - p + 1)), p));
    }
    if (name_end == text.size() || text[name_end] != '=') {
      return txt_failure(fmt::format("expected '=' after '{}'", excerpt(name)));
    }
    const std::size_t value_end = skip_while(text, name_end + 1, is_ext_value_char);
    const std::string_view value = text.substr(name_end + 1, value_end - name_end - 1);
    if (value.empty()) return txt_failure(fmt::format("empty value for '{}'", excerpt(name)));
    if (value_end < text.size() && text[value_end] != ';' && !abnf::is_wsp(text[value_end])) {
      // Non-ASCII, CTLs (NUL included) and "=" are outside sts-ext-value.
      return txt_failure(fmt::format("bad character '{}' in value of '{}' at offset {}",
                                     excerpt(text.substr(value_end, 1)), excerpt(name), value_end));
    }

    if (name == kIdName) {
      // Strict reading: the id identifies the policy version (§3.1), so two ids are
      // ambiguous and the record is invalid rather than first-wins.
      if (have_id) return txt_failure("id appears more than once");
      if (!is_valid_id(value)) {
        return txt_failure(fmt::format("id '{}' is not 1 to 32 letters or digits", excerpt(value)));
      }
      record.id = std::string(value);
      have_id = true;
    } else {
      record.extensions.emplace_back(name, value);
    }
    ++fields;
    pos = value_end;
  }

  if (fields == 0) return txt_failure("no field after v=STSv1");
  if (!have_id) return txt_failure("id missing");  // §3.1: id is required
  return {std::move(record), {}};
}

TxtParseResult select_txt_record(const std::vector<std::string>& records) {
  // §3.1: records not beginning with the STSv1 version are discarded; if the
  // number left is not exactly one, there is no policy.
  const std::string* chosen = nullptr;
  std::size_t count = 0;
  for (const auto& record : records) {
    if (!has_sts_version_prefix(record)) continue;
    ++count;
    chosen = &record;
  }
  if (count == 0) return txt_failure("no STSv1 record");
  if (count > 1) return txt_failure(fmt::format("{} STSv1 records", count));
  return parse_txt_record(*chosen);
}

}  // namespace mtasts::sts
