#pragma once
// The socketmap side of the policy lifecycle: turns (map name, key) into (zone,
// query), answers keys that are not a policy domain at once, and hands the rest
// to the resolver, whose answer text goes back to Postfix as it is.
#include <chrono>
#include <memory>
#include <string_view>
#include <vector>

#include "daemon/answer_metrics.hpp"
#include "resolver/policy_resolver.hpp"
#include "socketmap/server.hpp"
#include "util/log_text.hpp"

namespace mtasts::daemon {

class PolicyHandler final : public socketmap::RequestHandler {
 public:
  // metrics: null when metrics.listen is off (then nothing is timed).
  explicit PolicyHandler(resolver::PolicyResolver& policies, AnswerMetrics* metrics = nullptr)
      : policies_(policies), metrics_(metrics) {}
  void handle(std::string_view name, std::string_view key, socketmap::ReplyCallback done) override;
  // metrics.listen set by a reload: queries from now on are timed and counted.
  // Never reset to null: a query in flight may be a timed one.
  void set_metrics(AnswerMetrics* metrics) { metrics_ = metrics; }

 private:
  // A timed query between the request and its answer. Pooled: the callback the
  // resolver gets captures only (this, Timed*), which std::function keeps
  // without allocating, and the pool grows only to the peak of queries in flight.
  struct Timed {
    socketmap::ReplyCallback done;
    std::chrono::steady_clock::time_point start;
    std::size_t zone = 0;
  };
  void answer_timed(std::size_t zone, const sts::QueryKey& query, socketmap::ReplyCallback done,
                    std::chrono::steady_clock::time_point start);
  void finish(Timed* timed, std::string_view answer);

  resolver::PolicyResolver& policies_;
  AnswerMetrics* metrics_;
  std::vector<std::unique_ptr<Timed>> timed_;
  std::vector<Timed*> free_;  // capacity kept at timed_.size(): releasing never allocates
  // The query whose resolver call is on the stack: its answer came at once.
  const Timed* calling_ = nullptr;
  // Keys come from whoever reaches the socket: a flood of bad keys must not
  // become a flood of log lines (20 a minute, then a count of the rest).
  util::LogBudget bad_key_warnings_{20, std::chrono::minutes(1)};
};

}  // namespace mtasts::daemon
