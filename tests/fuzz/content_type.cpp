// RFC 8461 §3.2: the policy's Content-Type must be text/plain.
#include <cstddef>
#include <cstdint>
#include <string>

#include "fuzz_check.hpp"
#include "sts/content_type.hpp"

using mtasts::sts::is_text_plain;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view value = mtasts::fuzz::as_text(data, size);
  if (!is_text_plain(value)) {
    return 0;
  }
  // RFC 9110 §8.3.1: parameters and the case of type/subtype do not change the type.
  FUZZ_CHECK(is_text_plain(std::string(value) + "; charset=utf-8"));
  FUZZ_CHECK(is_text_plain(std::string(value) + ";format=flowed ; x=\"a;b\""));
  FUZZ_CHECK(is_text_plain(mtasts::fuzz::to_upper_ascii(value)));
  FUZZ_CHECK(is_text_plain(mtasts::fuzz::to_lower_ascii(value)));
  // Whatever was accepted starts, after optional whitespace, with text/plain.
  const std::string lower = mtasts::fuzz::to_lower_ascii(value);
  FUZZ_CHECK(lower.find("text/plain") == lower.find_first_not_of(" \t"));
  return 0;
}
