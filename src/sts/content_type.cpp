#include "sts/content_type.hpp"

#include "sts/abnf.hpp"

namespace mtasts::sts {

bool is_text_plain(std::string_view content_type) {
  // RFC 8461 §3.2: media type "text/plain". RFC 9110 §8.3.1: media-type =
  // type "/" subtype parameters, with OWS around ";"; type and subtype are
  // case-insensitive; parameters (charset) do not change the media type.
  const std::size_t semicolon = content_type.find(';');
  const std::string_view media_type = abnf::trim_wsp(content_type.substr(0, semicolon));
  return abnf::iequals_ascii(media_type, "text/plain");
}

}  // namespace mtasts::sts
