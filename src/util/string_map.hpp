#pragma once
// A map keyed by std::string that string_views can look up without building a
// string: the hit path must not allocate.
#include <functional>
#include <string>
#include <string_view>
#include <unordered_map>

namespace mtasts::util {

struct TransparentStringHash {
  using is_transparent = void;
  std::size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
};

template <typename T>
using StringMap = std::unordered_map<std::string, T, TransparentStringHash, std::equal_to<>>;

}  // namespace mtasts::util
