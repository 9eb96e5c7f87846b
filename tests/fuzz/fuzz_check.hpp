#pragma once
// Shared by every fuzz target: the invariant check and small byte helpers that
// do not reuse the code under test (an oracle must not share the bug).
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

// A broken invariant is a finding: say which one and abort, so libFuzzer saves
// the input as a crash-* reproducer and the corpus replay test fails.
#define FUZZ_CHECK(condition)                                                                \
  do {                                                                                       \
    if (!(condition)) {                                                                      \
      std::fprintf(stderr, "%s:%d: invariant failed: %s\n", __FILE__, __LINE__, #condition); \
      std::abort();                                                                          \
    }                                                                                        \
  } while (false)

namespace mtasts::fuzz {

inline std::string_view as_text(const unsigned char* data, std::size_t size) {
  return {reinterpret_cast<const char*>(data), size};
}

inline bool is_upper_ascii(char c) { return c >= 'A' && c <= 'Z'; }
inline bool is_lower_ascii(char c) { return c >= 'a' && c <= 'z'; }

// Flips ASCII letters only: other octets (UTF-8, controls) must stay as sent.
inline std::string to_upper_ascii(std::string_view text) {
  std::string out(text);
  for (char& c : out) {
    if (is_lower_ascii(c)) c = static_cast<char>(c - 'a' + 'A');
  }
  return out;
}

inline std::string to_lower_ascii(std::string_view text) {
  std::string out(text);
  for (char& c : out) {
    if (is_upper_ascii(c)) c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

// Splits text at the first occurrence of separator: (before, after). Without
// one, everything is before and after is empty.
inline std::pair<std::string_view, std::string_view> split_once(std::string_view text,
                                                                char separator) {
  const std::size_t at = text.find(separator);
  if (at == std::string_view::npos) return {text, {}};
  return {text.substr(0, at), text.substr(at + 1)};
}

}  // namespace mtasts::fuzz
