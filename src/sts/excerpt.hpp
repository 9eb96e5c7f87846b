#pragma once
// Hostile input (NUL bytes, escapes, megabytes) ends up in error strings that are
// logged: show it printable and short. Pure logic.
#include <cstddef>
#include <string>
#include <string_view>

namespace mtasts::sts {

inline constexpr std::size_t kExcerptLimit = 64;

// Printable ASCII kept, every other octet and the backslash written as \xNN; once the
// output reaches kExcerptLimit characters the rest is replaced by "...".
std::string excerpt(std::string_view text);

}  // namespace mtasts::sts
