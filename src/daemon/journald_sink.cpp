#include "daemon/journald_sink.hpp"

#include <sys/uio.h>
#include <syslog.h>
#include <systemd/sd-journal.h>

#include <string_view>
#include <vector>

#include <fmt/format.h>

#include "daemon/log_fields.hpp"

namespace mtasts::daemon {
namespace {

int priority(spdlog::level::level_enum level) {
  switch (level) {
    case spdlog::level::critical:
      return LOG_CRIT;
    case spdlog::level::err:
      return LOG_ERR;
    case spdlog::level::warn:
      return LOG_WARNING;
    case spdlog::level::info:
      return LOG_INFO;
    default:
      return LOG_DEBUG;
  }
}

}  // namespace

void JournaldSink::sink_it_(const spdlog::details::log_msg& msg) {
  const std::string_view message(msg.payload.data(), msg.payload.size());
  const LogFields fields = parse_log_fields(message);
  // "FIELD=value" strings; sd_journal_sendv takes lengths, so a message with
  // a NUL or a newline in it stays one field.
  std::vector<std::string> entries;
  entries.push_back(fmt::format("MESSAGE={}", message));
  entries.push_back(fmt::format("PRIORITY={}", priority(msg.level)));
  entries.push_back(fmt::format("SYSLOG_FACILITY={}", facility_ >> 3));
  entries.push_back("SYSLOG_IDENTIFIER=" + identifier_);
  if (!fields.domain.empty()) entries.push_back("DOMAIN=" + fields.domain);
  if (!fields.answer.empty()) entries.push_back("ANSWER=" + fields.answer);
  if (!fields.reason.empty()) entries.push_back("REASON=" + fields.reason);
  std::vector<iovec> iov;
  iov.reserve(entries.size());
  for (auto& entry : entries) iov.push_back(iovec{entry.data(), entry.size()});
  sd_journal_sendv(iov.data(), static_cast<int>(iov.size()));
}

}  // namespace mtasts::daemon
