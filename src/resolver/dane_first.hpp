#pragma once
// DANE first (RFC 8461 §2: "senders who implement MTA-STS ... SHOULD
// treat DANE as taking precedence"): every query asks the DANE lifecycle
// before MTA-STS. A cached DANE result decides without I/O; a cold one is
// looked up while MTA-STS's own discovery runs alongside, so a domain without
// DANE costs no extra round trips. What each DANE level makes of MTA-STS's
// answer is combine() (answer.hpp, after dane::choose); this file is the
// routing: which lifecycle is asked when, and what a failed DANE lookup
// leaves (a cached enforced policy, or dane.on_failure).
#include <cstddef>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "resolver/answer.hpp"
#include "resolver/dane_resolver.hpp"
#include "resolver/resolver_settings.hpp"
#include "resolver/timers.hpp"
#include "sts/query_key.hpp"
#include "util/clock.hpp"

namespace mtasts::resolver {

// Receives the answer's socketmap text exactly once; the view is valid only
// during the call.
using AnswerCallback = std::function<void(std::string_view answer)>;

// What DANE-first needs of the MTA-STS lifecycle (PolicyResolver).
class StsLifecycle {
 public:
  // MTA-STS's answer, DANE's level known to be partial (dane) or absent (none).
  virtual void sts_answer(const std::string& domain, std::size_t zone, dane::Level dane,
                          std::optional<MonoTime> deadline, AnswerCallback done) = 0;
  // What memory answers now, without I/O: a cached policy, or NOTFOUND.
  virtual Answer cached_answer(const std::string& domain, std::size_t zone) = 0;
  // Nothing in memory for the domain: its MTA-STS discovery starts now.
  virtual void start_if_cold(const std::string& domain, std::size_t zone) = 0;

 protected:
  ~StsLifecycle() = default;
};

class DaneFirst {
 public:
  // Both outlive this (PolicyResolver owns it and implements sts).
  DaneFirst(DaneResolver& dane, StsLifecycle& sts, const util::Clock& clock, ResolverStats& stats)
      : dane_(dane), sts_(sts), clock_(clock), stats_(stats) {}
  ~DaneFirst() { *alive_ = false; }
  DaneFirst(const DaneFirst&) = delete;
  DaneFirst& operator=(const DaneFirst&) = delete;

  // done runs exactly once, at the latest at deadline (then with what is known).
  void answer(const sts::QueryKey& query, std::size_t zone, MonoTime deadline, AnswerCallback done);

 private:
  void decide(dane::Level level, const std::string& domain, std::size_t zone, MonoTime deadline,
              std::string_view why, AnswerCallback done);
  void failed(const std::string& domain, std::size_t zone, MonoTime deadline, std::string_view why,
              AnswerCallback done);

  DaneResolver& dane_;
  StsLifecycle& sts_;
  const util::Clock& clock_;
  ResolverStats& stats_;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace mtasts::resolver
