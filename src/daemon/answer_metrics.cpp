#include "daemon/answer_metrics.hpp"

#include <algorithm>

namespace mtasts::daemon {

std::string_view to_string(AnswerKind kind) {
  switch (kind) {
    case AnswerKind::secure:
      return "secure";
    case AnswerKind::dane:
      return "dane";
    case AnswerKind::dane_only:
      return "dane-only";
    case AnswerKind::notfound:
      return "notfound";
    case AnswerKind::temp:
      return "temp";
    case AnswerKind::perm:
    case AnswerKind::count:
      break;
  }
  return "perm";
}

AnswerKind classify_answer(std::string_view answer) {
  if (answer.starts_with("OK dane-only")) return AnswerKind::dane_only;
  if (answer == "OK dane" || answer.starts_with("OK dane ")) return AnswerKind::dane;
  if (answer.starts_with("OK")) return AnswerKind::secure;
  if (answer.starts_with("NOTFOUND")) return AnswerKind::notfound;
  if (answer.starts_with("PERM")) return AnswerKind::perm;
  return AnswerKind::temp;  // TEMP, and anything Postfix would treat as a failure
}

std::vector<std::string> zone_labels(const std::vector<std::string>& zone_names) {
  std::vector<std::string> labels(zone_names.begin(), zone_names.end());
  if (labels.empty()) labels.emplace_back();
  std::string fallback = "default_zone";
  while (std::find(labels.begin() + 1, labels.end(), fallback) != labels.end()) fallback += '_';
  labels[0] = fallback;
  return labels;
}

const std::vector<double> AnswerMetrics::kHitBuckets = {0.000001, 0.0000025, 0.000005, 0.00001,
                                                        0.000025, 0.00005,   0.0001,   0.00025,
                                                        0.0005,   0.001,     0.01};
const std::vector<double> AnswerMetrics::kWaitBuckets = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
                                                         1,     2.5,  5,     10,   30,  90};

AnswerMetrics::AnswerMetrics(metrics::Registry& registry, const std::vector<std::string>& labels)
    : registry_(registry) {
  for (const auto& zone : labels) add_series(zone);
  hit_ = &registry.histogram(
      "mtastsd_answer_hit_duration_seconds",
      "Time from request to answer for domain queries answered at once from memory (cache hits, "
      "negative hits, overload), measured at the socketmap handler.",
      kHitBuckets);
  wait_ = &registry.histogram(
      "mtastsd_answer_wait_duration_seconds",
      "Time from request to answer for domain queries that waited on the store, a discovery or "
      "DANE lookups (at most the zone timeout).",
      kWaitBuckets);
}

void AnswerMetrics::add_series(const std::string& label) {
  auto& row = by_zone_.emplace_back();
  for (std::size_t k = 0; k < kAnswerKinds; ++k) {
    const auto kind = static_cast<AnswerKind>(k);
    // PERM is the socketmap layer's answer to a malformed request, which names
    // no zone: one series without a zone label (DaemonMetrics adds it).
    row[k] = kind == AnswerKind::perm
                 ? &perm_
                 : &registry_.counter(kAnswersName, kAnswersHelp,
                                      {{"zone", label}, {"kind", std::string(to_string(kind))}});
  }
  labels_.push_back(label);
}

void AnswerMetrics::add_zone(const std::string& name) {
  // A zone named like the default zone's label keeps the series apart.
  std::string label = name;
  while (std::find(labels_.begin(), labels_.end(), label) != labels_.end()) label += '_';
  add_series(label);
}

}  // namespace mtasts::daemon
