#include "daemon/policy_handler.hpp"

#include <spdlog/spdlog.h>

#include "sts/query_key.hpp"

namespace mtasts::daemon {

void PolicyHandler::handle(std::string_view name, std::string_view key,
                           socketmap::ReplyCallback done) {
  const std::size_t zone = policies_.zone_index(name);
  auto query = sts::parse_query_key(key);
  switch (query.kind) {
    case sts::QueryKey::Kind::domain:
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
  done(sts::kNotFound);
}

}  // namespace mtasts::daemon
