#pragma once
// One MTA-STS discovery for one domain (RFC 8461 §3): TXT record, then the policy
// host's addresses, then the HTTPS fetch, then validation. Asynchronous, on the
// daemon's io_context; it only talks to the network and reports what it found:
// the lifecycle decisions (cache, backoff, answers) belong to PolicyResolver.
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "resolver/network.hpp"
#include "sts/policy.hpp"

namespace mtasts::resolver {

struct DiscoveryStep {
  std::string name;  // "txt", "address", "fetch", "policy"
  bool ok = false;
  std::string detail;  // what was seen, e.g. "id=2024a", "127.0.0.10", "HTTP 404"
};

// Why a discovery found no usable policy, classed for metrics: DNS failures by
// kind, and for the policy host RFC 8460 §4.3's result types.
enum class DiscoveryFailure : std::uint8_t {
  none,
  dns_timeout,             // TXT or policy host lookup: no answer in time
  dns_servfail,            // SERVFAIL (with a validating resolver also bogus DNSSEC)
  dns_other,               // REFUSED, malformed answers, ...
  policy_host_nxdomain,    // mta-sts.DOMAIN does not exist (or has no address)
  sts_policy_fetch_error,  // connect, timeout, TLS handshake, HTTP status, Content-Type, size
  sts_policy_invalid,      // the policy text breaks §3.2
  sts_webpki_invalid,      // the certificate is not valid for the policy host (§3.3)
  count,
};
std::string_view to_string(DiscoveryFailure failure);

struct DiscoveryResult {
  enum class Outcome {
    policy,        // a valid policy was fetched (txt_id, body, policy set)
    unchanged,     // the TXT id equals known_id: no fetch was made (§3.1, §5.1)
    no_policy,     // no usable TXT record: the domain has no MTA-STS (§3.1)
    fetch_failed,  // TXT present but the policy could not be fetched or was invalid (§3.3)
    temp_failure,  // DNS temporary failure on the TXT lookup: nothing is known
  };
  Outcome outcome = Outcome::temp_failure;
  std::string txt_id;
  std::string body;
  std::optional<sts::Policy> policy;
  std::string reason;  // one line for the log: why no policy / what failed
  std::vector<DiscoveryStep> steps;
  bool overloaded = false;  // not attempted: no discovery slot (ours, not the domain's)
  // Failed (or not attempted) while the store could not say whether it holds a
  // policy for the domain: waiters answer TEMP, never NOTFOUND (issue 16).
  bool store_unknown = false;
  DiscoveryFailure failure = DiscoveryFailure::none;  // for fetch_failed and temp_failure
  std::chrono::nanoseconds dns_time{0};  // measured when DiscoveryOptions::clock is set
  std::chrono::nanoseconds https_time{0};
};

std::string_view to_string(DiscoveryResult::Outcome outcome);

struct DiscoveryOptions {
  std::chrono::milliseconds fetch_timeout{4000};
  // Monotonic time for the step durations in the result; null: not measured.
  std::function<std::chrono::steady_clock::time_point()> clock;
};

// known_id: the id of a cached policy; when the TXT record still carries it, the
// discovery ends with Outcome::unchanged and no fetch.
void discover(DnsPort& dns, HttpsPort& https, const std::string& domain,
              const std::string& known_id, const DiscoveryOptions& options,
              std::function<void(DiscoveryResult)> done);

}  // namespace mtasts::resolver
