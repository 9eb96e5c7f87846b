#pragma once
// RFC 8461 §3.2: the policy must be served as text/plain. Pure logic.
#include <string_view>

namespace mtasts::sts {

// True when the Content-Type header value's media type is text/plain
// (case-insensitive type/subtype, optional whitespace, parameters allowed).
bool is_text_plain(std::string_view content_type);

}  // namespace mtasts::sts
