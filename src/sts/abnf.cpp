#include "sts/abnf.hpp"

#include <algorithm>

namespace mtasts::sts::abnf {

bool is_ext_name(std::string_view name) {
  // 1 leading ALPHA / DIGIT plus at most 31 more: 32 octets in all.
  if (name.empty() || name.size() > 32 || !is_alnum(name.front())) return false;
  return std::all_of(name.begin(), name.end(), is_ext_name_char);
}

bool all_digits(std::string_view text) {
  return !text.empty() && std::all_of(text.begin(), text.end(), is_digit);
}

namespace {
constexpr bool is_tail(unsigned char c) { return c >= 0x80 && c <= 0xbf; }  // UTF8-tail
}  // namespace

std::size_t utf8_multibyte_length(std::string_view text) {
  if (text.empty()) return 0;
  const unsigned char lead = octet(text[0]);
  auto at = [&](std::size_t i) { return i < text.size() ? octet(text[i]) : 0; };
  // RFC 3629 §4: UTF8-2 = %xC2-DF UTF8-tail
  if (lead >= 0xc2 && lead <= 0xdf) return is_tail(at(1)) ? 2 : 0;
  // UTF8-3 = %xE0 %xA0-BF UTF8-tail / %xE1-EC 2(UTF8-tail) /
  //          %xED %x80-9F UTF8-tail / %xEE-EF 2(UTF8-tail)
  if (lead >= 0xe0 && lead <= 0xef) {
    const unsigned char second = at(1);
    const bool second_ok = lead == 0xe0   ? (second >= 0xa0 && second <= 0xbf)
                           : lead == 0xed ? (second >= 0x80 && second <= 0x9f)
                                          : is_tail(second);
    return second_ok && is_tail(at(2)) ? 3 : 0;
  }
  // UTF8-4 = %xF0 %x90-BF 2(UTF8-tail) / %xF1-F3 3(UTF8-tail) / %xF4 %x80-8F 2(UTF8-tail)
  if (lead >= 0xf0 && lead <= 0xf4) {
    const unsigned char second = at(1);
    const bool second_ok = lead == 0xf0   ? (second >= 0x90 && second <= 0xbf)
                           : lead == 0xf4 ? (second >= 0x80 && second <= 0x8f)
                                          : is_tail(second);
    return second_ok && is_tail(at(2)) && is_tail(at(3)) ? 4 : 0;
  }
  return 0;
}

std::string ascii_lower(std::string_view text) {
  std::string out(text);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

bool iequals_ascii(std::string_view a, std::string_view b) {
  return a.size() == b.size() && ascii_lower(a) == ascii_lower(b);
}

std::string_view trim_wsp(std::string_view text) {
  while (!text.empty() && is_wsp(text.front())) text.remove_prefix(1);
  while (!text.empty() && is_wsp(text.back())) text.remove_suffix(1);
  return text;
}

}  // namespace mtasts::sts::abnf
