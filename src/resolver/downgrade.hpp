#pragma once
// When a protected domain is about to lose its protection or changes for the
// weaker (the downgrade alarm, issue 14). Pure logic: the lifecycle asks, the
// AlarmBoard remembers and tells.
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "sts/policy.hpp"

namespace mtasts::resolver {

struct AlarmSettings {
  // Seconds before expiry at which failing refreshes of an enforce policy warn;
  // each margin warns once (e.g. a week, then a day).
  std::vector<std::uint32_t> expiry_margins{7 * 86400, 86400};
};

// Why `after` protects less than the enforce policy `before` it replaces, or ""
// when it does not: a mode other than enforce; MX patterns dropped (mail may go
// to hosts the old policy refused); a max_age cut below half and below a week,
// which lets an attacker who later blocks the policy host wait it out sooner.
std::string weakening(const sts::Policy& before, const sts::Policy& after);

// The warning stage of failing refreshes for a policy expiring in `left`
// seconds: 0 while outside every margin, else 1 + the index of the smallest
// margin reached (margins taken from largest to smallest).
std::uint32_t expiry_stage(const AlarmSettings& settings, std::int64_t left);

// Time left until expires_at, in words for the log: "12d", "5h", "40s".
std::string describe_expiry(std::int64_t expires_at, std::int64_t now);

}  // namespace mtasts::resolver
