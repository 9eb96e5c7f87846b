#include "daemon/log_fields.hpp"

#include <array>

namespace mtasts::daemon {
namespace {

// What a socketmap answer starts with (sts/answer.hpp's renderings, DANE's).
constexpr std::array<std::string_view, 7> kAnswers = {"secure",   "dane-only", "dane", "OK",
                                                      "NOTFOUND", "TEMP",      "PERM"};

// A domain as the resolver logs it: a non-empty run of label characters with
// a dot, or a [host]:port destination. Anything else ("socketmap", "DANE")
// is a subsystem prefix, not a domain.
bool looks_like_domain(std::string_view text) {
  if (text.empty() || text.size() > 300) return false;
  bool dot = false;
  for (const char c : text) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '-' || c == '.' || c == '_' || c == '[' || c == ']' || c == ':';
    if (!ok) return false;
    dot = dot || c == '.';
  }
  return dot;
}

std::string_view trim(std::string_view text) {
  while (!text.empty() && text.back() == ' ') text.remove_suffix(1);
  while (!text.empty() && text.front() == ' ') text.remove_prefix(1);
  return text;
}

}  // namespace

LogFields parse_log_fields(std::string_view message) {
  LogFields fields;
  const auto colon = message.find(": ");
  if (colon == std::string_view::npos) return fields;
  std::string_view domain = message.substr(0, colon);
  // Keys are logged quoted when they are not valid domains.
  if (domain.size() >= 2 && domain.front() == '\'' && domain.back() == '\'') {
    domain = domain.substr(1, domain.size() - 2);
  }
  if (!looks_like_domain(domain)) return fields;
  fields.domain = domain;
  std::string_view rest = message.substr(colon + 2);
  std::string_view head = rest;
  if (rest.ends_with(')')) {
    // The '(' matching the final ')': reasons may hold parentheses of their own.
    int depth = 0;
    for (std::size_t i = rest.size(); i-- > 0;) {
      if (rest[i] == ')') ++depth;
      if (rest[i] == '(' && --depth == 0) {
        if (i > 0 && rest[i - 1] == ' ') {
          fields.reason = rest.substr(i + 1, rest.size() - i - 2);
          head = rest.substr(0, i - 1);
        }
        break;
      }
    }
  }
  head = trim(head);
  for (const auto answer : kAnswers) {
    if (head.starts_with(answer) && (head.size() == answer.size() || head[answer.size()] == ' ' ||
                                     head[answer.size()] == ';')) {
      fields.answer = head.substr(0, head.find(';'));
      break;
    }
  }
  return fields;
}

}  // namespace mtasts::daemon
