#pragma once
// The socketmap side of the policy lifecycle: turns (map name, key) into (zone,
// query), answers keys that are not a policy domain at once, and hands the rest
// to the resolver, whose answer text goes back to Postfix as it is.
#include <chrono>
#include <string_view>

#include "resolver/policy_resolver.hpp"
#include "socketmap/server.hpp"
#include "util/log_text.hpp"

namespace mtasts::daemon {

class PolicyHandler final : public socketmap::RequestHandler {
 public:
  explicit PolicyHandler(resolver::PolicyResolver& policies) : policies_(policies) {}
  void handle(std::string_view name, std::string_view key, socketmap::ReplyCallback done) override;

 private:
  resolver::PolicyResolver& policies_;
  // Keys come from whoever reaches the socket: a flood of bad keys must not
  // become a flood of log lines (20 a minute, then a count of the rest).
  util::LogBudget bad_key_warnings_{20, std::chrono::minutes(1)};
};

}  // namespace mtasts::daemon
