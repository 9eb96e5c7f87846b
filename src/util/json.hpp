#pragma once
// Minimal JSON string escaping for the command-line tool's --json output.
#include <string>
#include <string_view>

namespace mtasts::util {

std::string json_escape(std::string_view text);  // returns the quoted JSON string

}  // namespace mtasts::util
