#pragma once
// What the socketmap handler counts per answer: answers by zone and kind, and
// how long they took, split by whether the query waited (on the store, a
// discovery or DANE lookups) or was answered at once from memory. Every series
// is created here, at start-up: counting is an array index and relaxed atomic
// adds, with no lookup, lock or allocation on the hit path.
#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "metrics/registry.hpp"

namespace mtasts::daemon {

// The answers Postfix gets (the `kind` label).
enum class AnswerKind : std::uint8_t { secure, dane, dane_only, notfound, temp, perm, count };
inline constexpr std::size_t kAnswerKinds = static_cast<std::size_t>(AnswerKind::count);
std::string_view to_string(AnswerKind kind);
// By the answer's text: "OK secure match=...", "OK dane", "OK dane-only", "NOTFOUND ", "TEMP ...".
AnswerKind classify_answer(std::string_view answer);

// The `zone` label of each zone index ([0] = the default zone, then the named
// zones in PolicyResolver's order): the default zone is "default_zone" (its
// configuration key), or with a zone of that name, the first free of
// "default_zone_", "default_zone__", ...
std::vector<std::string> zone_labels(const std::vector<std::string>& zone_names);

inline constexpr std::string_view kAnswersName = "mtastsd_answers_total";
inline constexpr std::string_view kAnswersHelp =
    "Answers sent to Postfix, by socketmap name (zone) and kind. PERM answers (malformed "
    "requests) name no zone: they carry the kind label only.";

class AnswerMetrics {
 public:
  // Answered at once: microseconds. Waited: tens of milliseconds up to the
  // longest zone timeout (90 s).
  static const std::vector<double> kHitBuckets;
  static const std::vector<double> kWaitBuckets;

  AnswerMetrics(metrics::Registry& registry, const std::vector<std::string>& zone_labels);
  // A zone a reload added (PolicyResolver::reconfigure): its series, at the
  // next index, labelled by its name (made unique among the labels so far).
  void add_zone(const std::string& name);

  void answered(std::size_t zone, std::string_view answer) noexcept {
    if (zone >= by_zone_.size()) zone = 0;
    by_zone_[zone][static_cast<std::size_t>(classify_answer(answer))]->inc();
  }
  void took(bool waited, std::chrono::nanoseconds duration) noexcept {
    (waited ? wait_ : hit_)->observe(duration);
  }
  // PERM answers from the handler (none today): exported with the server's.
  std::uint64_t perm_count() const noexcept { return perm_.value(); }

 private:
  void add_series(const std::string& label);

  metrics::Registry& registry_;
  std::vector<std::string> labels_;  // by zone index
  std::vector<std::array<metrics::Counter*, kAnswerKinds>> by_zone_;
  metrics::Histogram* hit_;
  metrics::Histogram* wait_;
  metrics::Counter perm_;
};

}  // namespace mtasts::daemon
