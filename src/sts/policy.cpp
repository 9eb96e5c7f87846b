#include "sts/policy.hpp"

#include <algorithm>

#include <fmt/format.h>

#include "sts/abnf.hpp"
#include "sts/excerpt.hpp"
#include "sts/mx_pattern.hpp"

namespace mtasts::sts {

std::string_view to_string(Mode mode) {
  switch (mode) {
    case Mode::enforce:
      return "enforce";
    case Mode::testing:
      return "testing";
    case Mode::none:
      return "none";
  }
  return "none";
}

std::optional<Mode> mode_from_string(std::string_view text) {
  // §3.2: sts-policy-mode-value = %s"testing" / %s"enforce" / %s"none" (case-sensitive).
  if (text == "enforce") return Mode::enforce;
  if (text == "testing") return Mode::testing;
  if (text == "none") return Mode::none;
  return std::nullopt;
}

namespace {

constexpr std::string_view kVersionValue = "STSv1";  // §3.2: sts-policy-version-value
constexpr std::size_t kMaxAgeDigits = 10;            // §3.2: 1*10(DIGIT)

struct Field {
  std::string_view name;
  std::string_view value;
};

struct FieldResult {
  std::optional<Field> field;
  std::string error;
};

// §3.2: sts-policy-ext-value = sts-policy-vchar [*(%x20 / sts-policy-vchar) sts-policy-vchar],
// sts-policy-vchar = %x21-7E / UTF8-2 / UTF8-3 / UTF8-4. The caller has already
// trimmed WSP, so SP may appear anywhere in what is left; HTAB and other CTLs may not.
std::string value_error(std::string_view value) {
  if (value.empty()) return "empty value";
  std::size_t i = 0;
  while (i < value.size()) {
    const auto u = abnf::octet(value[i]);
    if (u >= 0x20 && u <= 0x7e) {
      ++i;
    } else if (u >= 0x80) {
      const std::size_t length = abnf::utf8_multibyte_length(value.substr(i));
      if (length == 0) return fmt::format("invalid UTF-8 at column {}", i + 1);
      i += length;
    } else {
      return fmt::format("control character \\x{:02x} in value", u);
    }
  }
  return {};
}

// §3.2: every field line is NAME sts-policy-field-delim VALUE *WSP, where
// sts-policy-field-delim = ":" *WSP; the known names are all valid ext-names.
FieldResult split_field(std::string_view line) {
  std::size_t name_end = 0;
  while (name_end < line.size() && abnf::is_ext_name_char(line[name_end])) ++name_end;
  const std::string_view name = line.substr(0, name_end);
  if (!abnf::is_ext_name(name)) {
    return {std::nullopt, fmt::format("bad key '{}'", excerpt(line.substr(0, name_end + 1)))};
  }
  if (name_end == line.size() || line[name_end] != ':') {
    return {std::nullopt, fmt::format("expected ':' after key '{}'", excerpt(name))};
  }
  const std::string_view value = abnf::trim_wsp(line.substr(name_end + 1));
  if (auto error = value_error(value); !error.empty()) {
    return {std::nullopt, fmt::format("{}: {}", excerpt(name), error)};
  }
  return {Field{name, value}, {}};
}

// §3.2: sts-policy-max-age-value = 1*10(DIGIT), "maximum value of 31557600".
// Larger values make the policy invalid rather than being clamped.
std::string parse_max_age(std::string_view value, std::uint32_t& max_age) {
  if (!abnf::all_digits(value)) return fmt::format("max_age '{}' is not a number", excerpt(value));
  std::string_view significant = value;
  while (significant.size() > 1 && significant.front() == '0') significant.remove_prefix(1);
  std::uint64_t number = 0;
  // Nine digits fit in uint64 with room to spare and already exceed the limit.
  for (const char c : significant.substr(0, 9)) {
    number = number * 10 + static_cast<std::uint64_t>(c - '0');
  }
  if (significant.size() > 9 || number > kMaxAgeLimit) {
    return fmt::format("max_age {} exceeds {}", excerpt(value), kMaxAgeLimit);
  }
  if (value.size() > kMaxAgeDigits) {
    return fmt::format("max_age {} has more than {} digits", excerpt(value), kMaxAgeDigits);
  }
  max_age = static_cast<std::uint32_t>(number);
  return {};
}

PolicyParseResult failure(std::string reason) { return {std::nullopt, std::move(reason)}; }

PolicyParseResult line_failure(std::size_t line_number, std::string_view reason) {
  return failure(fmt::format("line {}: {}", line_number, reason));
}

}  // namespace

PolicyParseResult parse_policy(std::string_view body) {
  Policy policy;
  bool have_version = false;
  bool have_mode = false;
  bool have_max_age = false;

  std::size_t line_number = 0;
  std::size_t pos = 0;
  while (pos < body.size()) {
    ++line_number;
    // §3.2: sts-policy-term = LF / CRLF; the last line may lack one (erratum 6253).
    const std::size_t lf = body.find('\n', pos);
    std::string_view line = body.substr(pos, lf == std::string_view::npos ? lf : lf - pos);
    pos = lf == std::string_view::npos ? body.size() : lf + 1;
    if (lf != std::string_view::npos && line.ends_with('\r')) line.remove_suffix(1);
    // A CR not followed by LF is not a line end, and no field may contain a CTL.
    if (line.find('\r') != std::string_view::npos) return line_failure(line_number, "bare CR");
    // Blank lines carry nothing (real policies end with one): skipped. Lines of
    // only WSP are blank too: no field can begin with WSP, and they carry nothing.
    if (abnf::trim_wsp(line).empty()) continue;
    // §3.2: sts-policy-record = sts-policy-field *WSP *(sts-policy-term ...): the
    // WSP before a line end is not part of the field. The line is kept without it
    // (for TLSRPT policy_string), and split_field sees the field alone.
    while (abnf::is_wsp(line.back())) line.remove_suffix(1);
    policy.lines.emplace_back(line);

    auto [field, error] = split_field(line);
    if (!field) return line_failure(line_number, error);
    const auto [name, value] = *field;

    // §3.2: names are case-sensitive (%s"..."); for a repeated field other than
    // mx the first occurrence wins, later ones are only syntax-checked.
    if (name == "version") {
      if (have_version) continue;
      if (value != kVersionValue) {
        return line_failure(line_number, fmt::format("version '{}' is not STSv1", excerpt(value)));
      }
      have_version = true;
    } else if (name == "mode") {
      if (have_mode) continue;
      const auto mode = mode_from_string(value);
      if (!mode) {
        return line_failure(
            line_number, fmt::format("mode '{}' is not enforce, testing or none", excerpt(value)));
      }
      policy.mode = *mode;
      have_mode = true;
    } else if (name == "max_age") {
      if (have_max_age) continue;
      if (auto problem = parse_max_age(value, policy.max_age); !problem.empty()) {
        return line_failure(line_number, problem);
      }
      have_max_age = true;
    } else if (name == "mx") {
      // §3.2: sts-policy-mx-value = ["*."] Domain, A-labels only; one per mx line.
      if (!is_valid_mx_pattern(value)) {
        return line_failure(
            line_number, fmt::format("mx '{}' is not a valid host name pattern", excerpt(value)));
      }
      std::string pattern = normalize_mx_pattern(value);
      if (std::find(policy.mx.begin(), policy.mx.end(), pattern) == policy.mx.end()) {
        policy.mx.push_back(std::move(pattern));
      }
    }
    // §3.2: other keys are extensions: accepted and ignored.
  }

  // §3.2: version, mode and max_age are required; mx unless mode is none.
  if (!have_version) return failure("version missing");
  if (!have_mode) return failure("mode missing");
  if (!have_max_age) return failure("max_age missing");
  if (policy.mode != Mode::none && policy.mx.empty()) {
    return failure(fmt::format("mx missing (required in mode {})", to_string(policy.mode)));
  }
  return {std::move(policy), {}};
}

}  // namespace mtasts::sts
