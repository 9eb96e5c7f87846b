#pragma once
// Typed reading of YAML scalars the way PyYAML's safe_load (YAML 1.1) reads
// them, so postfix-mta-sts-resolver's files mean the same here: `0666` is
// octal, `yes`/`on` are true, `~` is null. yaml-cpp hands us only text.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace mtasts::config {

// YAML 1.1 null: empty, "~", "null", "Null", "NULL" (plain scalars only).
bool is_yaml_null(std::string_view text);

// YAML 1.1 bool as PyYAML resolves it: yes/no, true/false, on/off in lower,
// Capitalised or UPPER case. (PyYAML leaves y/n as strings; so do we.)
std::optional<bool> parse_yaml_bool(std::string_view text);

// YAML 1.1 int: decimal, 0NNN octal, 0xHEX, 0bBIN, optional sign, '_'
// separators; also YAML 1.2's 0oNNN. nullopt when not an int or out of range.
std::optional<std::int64_t> parse_yaml_int(std::string_view text);

// A finite number: any int form above, or a decimal float ("4.5", ".5",
// "1e3"). Never inf or nan. nullopt otherwise.
std::optional<double> parse_yaml_number(std::string_view text);

}  // namespace mtasts::config
