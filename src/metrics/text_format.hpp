#pragma once
// The pieces of Prometheus's text exposition format 0.0.4 that need care:
// which names are valid, how HELP text and label values are escaped, and how
// numbers are written. Pure functions.
#include <string>
#include <string_view>

namespace mtasts::metrics {

// The Content-Type a scraper is told.
inline constexpr std::string_view kTextContentType = "text/plain; version=0.0.4; charset=utf-8";

// [a-zA-Z_:][a-zA-Z0-9_:]*
bool valid_metric_name(std::string_view name);
// [a-zA-Z_][a-zA-Z0-9_]*, not starting with "__" (reserved for Prometheus).
bool valid_label_name(std::string_view name);

// HELP text: backslash and line feed escaped.
std::string escape_help(std::string_view text);
// A label value: backslash, double quote and line feed escaped.
std::string escape_label_value(std::string_view value);

// A sample value as Go's ParseFloat reads it back: whole numbers without a
// fraction or exponent ("42"), others in their shortest exact form, and
// "+Inf", "-Inf", "NaN".
std::string format_value(double value);

}  // namespace mtasts::metrics
