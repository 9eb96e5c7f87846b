#include "daemon/policy_handler.hpp"

#include <spdlog/spdlog.h>

#include "sts/query_key.hpp"

namespace mtasts::daemon {

void PolicyHandler::handle(std::string_view name, std::string_view key,
                           socketmap::ReplyCallback done) {
  const auto start = metrics_ != nullptr ? std::chrono::steady_clock::now()
                                         : std::chrono::steady_clock::time_point{};
  const std::size_t zone = policies_.zone_index(name);
  auto query = sts::parse_query_key(key);
  switch (query.kind) {
    case sts::QueryKey::Kind::domain:
      if (metrics_ != nullptr) return answer_timed(zone, query, std::move(done), start);
      // Same signature: the reply callback passes through without a wrapper.
      return policies_.answer(zone, query, std::move(done));
    case sts::QueryKey::Kind::parent_domain:
      // Postfix's parent-domain walk (".example.com"): never a parent's policy (§3.4).
      if (spdlog::should_log(spdlog::level::info)) {
        spdlog::info("{}: NOTFOUND (parent-domain key: never a parent's policy)",
                     util::log_text(key));
      }
      break;
    case sts::QueryKey::Kind::address_literal:
      if (spdlog::should_log(spdlog::level::info)) {
        spdlog::info("{}: NOTFOUND (address literal: {})", util::log_text(key), query.reason);
      }
      break;
    case sts::QueryKey::Kind::invalid:
      // Logged escaped: a key is untrusted text and must not forge log lines.
      if (const auto permit = bad_key_warnings_.take(std::chrono::steady_clock::now());
          permit.log) {
        spdlog::warn("'{}': NOTFOUND (invalid key: {}){}", util::log_text(key),
                     util::log_text(query.reason), util::suppressed_note(permit.suppressed));
      }
      break;
  }
  policies_.count_rejected_key();
  if (metrics_ != nullptr) metrics_->answered(zone, sts::kNotFound);
  done(sts::kNotFound);
}

void PolicyHandler::answer_timed(std::size_t zone, const sts::QueryKey& query,
                                 socketmap::ReplyCallback done,
                                 std::chrono::steady_clock::time_point start) {
  Timed* timed = nullptr;
  if (free_.empty()) {
    timed = timed_.emplace_back(std::make_unique<Timed>()).get();
    free_.reserve(timed_.size());
  } else {
    timed = free_.back();
    free_.pop_back();
  }
  timed->done = std::move(done);
  timed->start = start;
  timed->zone = zone;
  // The resolver calls back before answer() returns for what it knows (hits,
  // negative hits, overload), later for a query that waits.
  const Timed* outer = calling_;
  calling_ = timed;
  policies_.answer(zone, query, [this, timed](std::string_view answer) { finish(timed, answer); });
  calling_ = outer;
}

void PolicyHandler::finish(Timed* timed, std::string_view answer) {
  const bool waited = timed != calling_;
  metrics_->took(waited, std::chrono::steady_clock::now() - timed->start);
  metrics_->answered(timed->zone, answer);
  auto done = std::move(timed->done);
  timed->done = nullptr;
  free_.push_back(timed);
  done(answer);
}

}  // namespace mtasts::daemon
