#pragma once
// An spdlog sink writing to systemd's journal with structured fields: MESSAGE,
// PRIORITY, SYSLOG_IDENTIFIER, SYSLOG_FACILITY (log.facility) and, where the line names
// them, DOMAIN, ANSWER and REASON (log_fields.hpp), so `journalctl
// DOMAIN=example.com` finds a domain's history. spdlog's own systemd_sink has
// no custom fields.
#include <mutex>
#include <string>

#include <spdlog/details/null_mutex.h>
#include <spdlog/sinks/base_sink.h>

namespace mtasts::daemon {

class JournaldSink final : public spdlog::sinks::base_sink<spdlog::details::null_mutex> {
 public:
  JournaldSink(std::string identifier, int facility)
      : identifier_(std::move(identifier)), facility_(facility) {}

 protected:
  void sink_it_(const spdlog::details::log_msg& msg) override;
  void flush_() override {}

 private:
  std::string identifier_;
  int facility_;  // LOG_MAIL etc.: log.facility
};

}  // namespace mtasts::daemon
