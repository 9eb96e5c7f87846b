#pragma once
// Rendering socketmap answer payloads (without the netstring framing) for Postfix's
// smtp_tls_policy_maps. Pure logic.
#include <string>
#include <string_view>

#include "sts/policy.hpp"

namespace mtasts::sts {

// Per-zone knobs, postfix-mta-sts-resolver's zone keys.
struct AnswerOptions {
  bool strict_testing = false;  // testing mode answers like enforce
  bool require_sni = true;      // append servername=hostname (RFC 8461 §7.1; Postfix >= 3.4)
  bool tlsrpt = false;          // Postfix >= 3.10 TLSRPT attributes
};

inline constexpr std::string_view kNotFound = "NOTFOUND ";

// enforce (or testing with strict_testing) ->
//   "OK secure match=P1:P2[ servername=hostname]" where each "*.x" is written ".x",
//   patterns in policy order, lower-case, duplicates removed;
//   with tlsrpt also " policy_type=sts policy_domain=DOMAIN", one " mx_host_pattern=P"
//   per mx in "*." form, and one " { policy_string = LINE }" per policy line.
// testing without strict_testing, none -> "NOTFOUND ".
std::string render_policy_answer(const Policy& policy, std::string_view policy_domain,
                                 const AnswerOptions& options);

}  // namespace mtasts::sts
