// RFC 8461 §4.1 mx pattern matching. Input: "PATTERN\nHOST".
#include <cstddef>
#include <cstdint>
#include <string>

#include "fuzz_check.hpp"
#include "sts/mx_pattern.hpp"

using mtasts::fuzz::to_lower_ascii;
using mtasts::fuzz::to_upper_ascii;
using mtasts::sts::mx_pattern_matches;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const auto [pattern, host] = mtasts::fuzz::split_once(mtasts::fuzz::as_text(data, size), '\n');
  const bool matches = mx_pattern_matches(pattern, host);

  // §4.1: case-insensitive (ASCII letters only; other octets stay as sent).
  FUZZ_CHECK(mx_pattern_matches(to_upper_ascii(pattern), to_lower_ascii(host)) == matches);
  FUZZ_CHECK(mx_pattern_matches(to_lower_ascii(pattern), to_upper_ascii(host)) == matches);
  // A trailing dot on either side does not matter (one is stripped).
  if (!pattern.ends_with('.')) {
    FUZZ_CHECK(mx_pattern_matches(std::string(pattern) + ".", host) == matches);
  }
  if (!host.ends_with('.')) {
    FUZZ_CHECK(mx_pattern_matches(pattern, std::string(host) + ".") == matches);
  }

  FUZZ_CHECK(mtasts::sts::is_valid_hostname(host) == mtasts::sts::hostname_error(host).empty());
  if (mtasts::sts::is_valid_mx_pattern(pattern)) {
    const std::string normal = mtasts::sts::normalize_mx_pattern(pattern);
    FUZZ_CHECK(mtasts::sts::is_valid_mx_pattern(normal));
    FUZZ_CHECK(mx_pattern_matches(normal, host) == matches);
    if (normal.starts_with("*.")) {
      // "*" is exactly one whole left-most label: not zero, not two.
      const std::string base = normal.substr(2);
      FUZZ_CHECK(mx_pattern_matches(normal, "mx." + base));
      FUZZ_CHECK(!mx_pattern_matches(normal, base));
      FUZZ_CHECK(!mx_pattern_matches(normal, "a.b." + base));
    } else {
      FUZZ_CHECK(mx_pattern_matches(normal, normal));
      FUZZ_CHECK(!mx_pattern_matches(normal, "mx." + normal));
    }
  }
  return 0;
}
