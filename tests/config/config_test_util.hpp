#pragma once
// Helpers shared by the configuration tests.
#include <doctest/doctest.h>

#include <string>

#include "config/config.hpp"

namespace mtasts::config::test {

inline LoadResult load(const std::string& yaml) { return load_config_text(yaml, "test.yml"); }

// The ConfigError message for yaml, or "" when it loads.
inline std::string error_of(const std::string& yaml) {
  try {
    load(yaml);
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "";
}

inline bool has_warning(const LoadResult& result, const std::string& text) {
  for (const auto& w : result.warnings)
    if (w == text) return true;
  return false;
}

}  // namespace mtasts::config::test
