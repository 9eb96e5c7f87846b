#include "config/yaml_scalar.hpp"

#include <array>
#include <charconv>
#include <cmath>
#include <limits>

namespace mtasts::config {
namespace {

int digit_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return 99;
}

// Digits of one base with '_' separators (YAML 1.1 allows them anywhere
// after the first digit or prefix); at least one digit.
std::optional<std::uint64_t> parse_digits(std::string_view digits, int base) {
  std::uint64_t value = 0;
  bool any = false;
  for (char c : digits) {
    if (c == '_') continue;
    const int d = digit_value(c);
    if (d >= base) return std::nullopt;
    if (value > (std::numeric_limits<std::uint64_t>::max() - d) / base) return std::nullopt;
    value = value * base + d;
    any = true;
  }
  if (!any) return std::nullopt;
  return value;
}

std::optional<std::uint64_t> parse_unsigned(std::string_view s) {
  if (s.empty() || s.front() == '_') return std::nullopt;
  if (s.size() > 2 && s[0] == '0') {
    switch (s[1]) {
      case 'x':
        return parse_digits(s.substr(2), 16);
      case 'b':
        return parse_digits(s.substr(2), 2);
      case 'o':
        return parse_digits(s.substr(2), 8);  // YAML 1.2 spelling
      default:
        break;
    }
  }
  // YAML 1.1: a leading 0 means octal ("0666"); "0" alone is zero.
  if (s.size() > 1 && s[0] == '0') return parse_digits(s.substr(1), 8);
  return parse_digits(s, 10);
}

}  // namespace

bool is_yaml_null(std::string_view text) {
  return text.empty() || text == "~" || text == "null" || text == "Null" || text == "NULL";
}

std::optional<bool> parse_yaml_bool(std::string_view text) {
  static constexpr std::array<std::string_view, 9> kTrue = {"yes",  "Yes", "YES", "true", "True",
                                                            "TRUE", "on",  "On",  "ON"};
  static constexpr std::array<std::string_view, 9> kFalse = {
      "no", "No", "NO", "false", "False", "FALSE", "off", "Off", "OFF"};
  for (auto word : kTrue)
    if (text == word) return true;
  for (auto word : kFalse)
    if (text == word) return false;
  return std::nullopt;
}

std::optional<std::int64_t> parse_yaml_int(std::string_view text) {
  bool negative = false;
  if (!text.empty() && (text.front() == '-' || text.front() == '+')) {
    negative = text.front() == '-';
    text.remove_prefix(1);
  }
  const auto magnitude = parse_unsigned(text);
  if (!magnitude) return std::nullopt;
  constexpr auto kMax = static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max());
  if (negative) {
    if (*magnitude > kMax + 1) return std::nullopt;
    return *magnitude == kMax + 1 ? std::numeric_limits<std::int64_t>::min()
                                  : -static_cast<std::int64_t>(*magnitude);
  }
  if (*magnitude > kMax) return std::nullopt;
  return static_cast<std::int64_t>(*magnitude);
}

std::optional<double> parse_yaml_number(std::string_view text) {
  if (auto as_int = parse_yaml_int(text)) return static_cast<double>(*as_int);
  bool negative = false;
  if (!text.empty() && (text.front() == '-' || text.front() == '+')) {
    negative = text.front() == '-';
    text.remove_prefix(1);
  }
  // Decimal floats only: from_chars would also take "inf", "nan" and hex.
  std::string plain;
  bool any_digit = false;
  for (char c : text) {
    if (c == '_') continue;
    const bool digit = c >= '0' && c <= '9';
    if (!digit && c != '.' && c != 'e' && c != 'E' && c != '+' && c != '-') return std::nullopt;
    any_digit = any_digit || digit;
    plain.push_back(c);
  }
  if (!any_digit || plain.front() == '+' || plain.front() == '-') return std::nullopt;
  double value = 0;
  const auto [end, ec] = std::from_chars(plain.data(), plain.data() + plain.size(), value);
  if (ec != std::errc() || end != plain.data() + plain.size() || !std::isfinite(value))
    return std::nullopt;
  return negative ? -value : value;
}

}  // namespace mtasts::config
