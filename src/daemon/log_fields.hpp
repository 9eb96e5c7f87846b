#pragma once
// The journal's structured fields, read from the house log-line form
// "DOMAIN: ANSWER (REASON)" (e.g. "example.com: NOTFOUND  (no TXT record)"),
// so every module's existing lines carry DOMAIN/ANSWER/REASON without each
// call site knowing which sink is in use.
#include <string>
#include <string_view>

namespace mtasts::daemon {

struct LogFields {
  std::string domain;  // empty where the line names none
  std::string answer;  // the socketmap answer, e.g. "secure match=.example.com", "NOTFOUND"
  std::string reason;  // the last parenthesised part
};

LogFields parse_log_fields(std::string_view message);

}  // namespace mtasts::daemon
