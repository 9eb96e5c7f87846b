#include "sts/excerpt.hpp"

#include <fmt/format.h>

namespace mtasts::sts {

std::string excerpt(std::string_view text) {
  std::string out;
  std::size_t used = 0;
  // The limit is on the output, so escapes cannot make it four times longer.
  for (; used < text.size() && out.size() < kExcerptLimit; ++used) {
    const auto u = static_cast<unsigned char>(text[used]);
    if (u >= 0x20 && u < 0x7f && u != '\\') {
      out += text[used];
    } else {
      out += fmt::format("\\x{:02x}", u);
    }
  }
  if (used < text.size()) out += "...";
  return out;
}

}  // namespace mtasts::sts
