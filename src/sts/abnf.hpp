#pragma once
// RFC 5234 Appendix B.1 core rules and RFC 3629 UTF-8 sequences, shared by the
// TXT record (RFC 8461 §3.1) and policy (§3.2) grammars. Pure logic.
#include <cstddef>
#include <string>
#include <string_view>

namespace mtasts::sts::abnf {

constexpr unsigned char octet(char c) { return static_cast<unsigned char>(c); }

// RFC 5234 B.1: ALPHA, DIGIT, WSP (SP / HTAB), CTL (%x00-1F / %x7F).
constexpr bool is_alpha(char c) { return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z'); }
constexpr bool is_digit(char c) { return c >= '0' && c <= '9'; }
constexpr bool is_alnum(char c) { return is_alpha(c) || is_digit(c); }
constexpr bool is_wsp(char c) { return c == ' ' || c == '\t'; }
constexpr bool is_ctl(char c) { return octet(c) < 0x20 || octet(c) == 0x7f; }
constexpr bool is_ascii(char c) { return octet(c) < 0x80; }

// RFC 8461 §3.1 sts-ext-name / §3.2 sts-policy-ext-name, after the first octet:
// ALPHA / DIGIT / "_" / "-" / "."
constexpr bool is_ext_name_char(char c) { return is_alnum(c) || c == '_' || c == '-' || c == '.'; }

// RFC 8461 §3.1/§3.2: (ALPHA / DIGIT) *31(ALPHA / DIGIT / "_" / "-" / ".")
bool is_ext_name(std::string_view name);

bool all_digits(std::string_view text);  // true for 1*DIGIT

// Length of the well-formed RFC 3629 §4 UTF8-2 / UTF8-3 / UTF8-4 sequence at the
// start of text, or 0 when it does not start with one (overlongs, surrogates and
// code points above U+10FFFF are not well-formed).
std::size_t utf8_multibyte_length(std::string_view text);

std::string ascii_lower(std::string_view text);
bool iequals_ascii(std::string_view a, std::string_view b);

std::string_view trim_wsp(std::string_view text);

}  // namespace mtasts::sts::abnf
