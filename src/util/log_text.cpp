#include "util/log_text.hpp"

#include <algorithm>

#include <fmt/format.h>

namespace mtasts::util {

namespace {

constexpr bool is_tail(unsigned char c) { return c >= 0x80 && c <= 0xbf; }

struct Decoded {
  std::size_t length = 0;  // 0: not a well-formed sequence at this octet
  char32_t code_point = 0;
};

// RFC 3629 §4 UTF8-2 / UTF8-3 / UTF8-4 at the start of text (the same table as
// sts::abnf::utf8_multibyte_length, which util cannot depend on).
Decoded decode_multibyte(std::string_view text) {
  auto at = [&](std::size_t i) -> unsigned char {
    return i < text.size() ? static_cast<unsigned char>(text[i]) : 0;
  };
  const unsigned char lead = at(0);
  if (lead >= 0xc2 && lead <= 0xdf) {
    if (!is_tail(at(1))) return {};
    return {2, static_cast<char32_t>(((lead & 0x1fu) << 6) | (at(1) & 0x3fu))};
  }
  if (lead >= 0xe0 && lead <= 0xef) {
    const unsigned char second = at(1);
    const bool second_ok = lead == 0xe0   ? (second >= 0xa0 && second <= 0xbf)
                           : lead == 0xed ? (second >= 0x80 && second <= 0x9f)
                                          : is_tail(second);
    if (!second_ok || !is_tail(at(2))) return {};
    return {3, static_cast<char32_t>(((lead & 0x0fu) << 12) | ((second & 0x3fu) << 6) |
                                     (at(2) & 0x3fu))};
  }
  if (lead >= 0xf0 && lead <= 0xf4) {
    const unsigned char second = at(1);
    const bool second_ok = lead == 0xf0   ? (second >= 0x90 && second <= 0xbf)
                           : lead == 0xf4 ? (second >= 0x80 && second <= 0x8f)
                                          : is_tail(second);
    if (!second_ok || !is_tail(at(2)) || !is_tail(at(3))) return {};
    return {4, static_cast<char32_t>(((lead & 0x07u) << 18) | ((second & 0x3fu) << 12) |
                                     ((at(2) & 0x3fu) << 6) | (at(3) & 0x3fu))};
  }
  return {};
}

// Well-formed, but a terminal or log viewer would act on it rather than show it:
// C1 controls (U+009B is CSI on 8-bit terminals), the Unicode line and paragraph
// separators, and the bidi controls that reorder the rest of the line.
constexpr bool acts_on_display(char32_t c) {
  return (c >= 0x80 && c <= 0x9f) || c == 0x2028 || c == 0x2029 || c == 0x200e || c == 0x200f ||
         (c >= 0x202a && c <= 0x202e) || (c >= 0x2066 && c <= 0x2069);
}

}  // namespace

std::string log_text(std::string_view text, std::size_t limit) {
  std::string out;
  out.reserve(std::min(text.size(), limit) + 16);
  std::size_t i = 0;
  while (i < text.size()) {
    const auto u = static_cast<unsigned char>(text[i]);
    std::string piece;
    std::size_t consumed = 1;
    if (u >= 0x20 && u < 0x7f && u != '\\') {
      piece.assign(1, text[i]);
    } else if (u < 0x80) {
      piece = fmt::format("\\x{:02x}", u);  // C0 control, DEL, "\"
    } else if (const Decoded d = decode_multibyte(text.substr(i)); d.length == 0) {
      piece = fmt::format("\\x{:02x}", u);  // not UTF-8: this octet alone
    } else {
      consumed = d.length;
      piece = acts_on_display(d.code_point)
                  ? fmt::format("\\u{:04x}", static_cast<std::uint32_t>(d.code_point))
                  : std::string(text.substr(i, d.length));
    }
    // The limit is on what is written, so escapes cannot make a line 4x longer;
    // a piece is written whole or not at all (no cut escape or UTF-8 sequence).
    if (out.size() + piece.size() > limit) break;
    out += piece;
    i += consumed;
  }
  if (i < text.size()) out += fmt::format("...[+{} bytes]", text.size() - i);
  return out;
}

LogBudget::LogBudget(std::size_t lines, Clock::duration interval)
    : lines_(lines), interval_(interval) {}

bool LogBudget::window_over(Clock::time_point now) const {
  // A time before the window's start (a caller mixing clocks) opens a new window
  // rather than silencing warnings until that time comes round again.
  return !started_ || now < window_start_ || now - window_start_ >= interval_;
}

LogBudget::Permit LogBudget::take(Clock::time_point now) {
  if (window_over(now)) {
    started_ = true;
    window_start_ = now;
    used_ = 0;
  }
  if (used_ < lines_) {
    ++used_;
    Permit permit{true, suppressed_};
    suppressed_ = 0;
    return permit;
  }
  ++suppressed_;
  ++total_suppressed_;
  return {};
}

std::uint64_t LogBudget::flush(Clock::time_point now) {
  if (suppressed_ == 0 || !window_over(now)) return 0;
  const std::uint64_t count = suppressed_;
  suppressed_ = 0;
  return count;
}

std::string suppressed_note(std::uint64_t suppressed) {
  if (suppressed == 0) return {};
  return fmt::format(" ({} similar warning{} suppressed)", suppressed, suppressed == 1 ? "" : "s");
}

}  // namespace mtasts::util
