#pragma once
// Rendering socketmap answer payloads (without the netstring framing) for Postfix's
// smtp_tls_policy_maps. Pure logic.
#include <cstddef>
#include <string>
#include <string_view>

#include "sts/policy.hpp"

namespace mtasts::sts {

// Postfix's socketmap client reads a reply payload (the netstring's content, without
// "LEN:" and ",") of at most socketmap_max_reply_size octets, 100,000 by default
// (socketmap_table(5); configurable from Postfix 3.10). A longer reply is "input
// exceeds size limit": a lookup error, so the mail is deferred for as long as the
// answer stays too long.
inline constexpr std::size_t kMaxAnswerBytes = 100000;

// Per-zone knobs, postfix-mta-sts-resolver's zone keys.
struct AnswerOptions {
  bool strict_testing = false;  // testing mode answers like enforce
  bool require_sni = true;      // append servername=hostname (RFC 8461 §7.1; Postfix >= 3.4)
  bool tlsrpt = false;          // Postfix >= 3.10 TLSRPT attributes
  // The longest payload the answer may have: Postfix's socketmap_max_reply_size.
  std::size_t max_answer_bytes = kMaxAnswerBytes;

  bool operator==(const AnswerOptions&) const = default;
};

inline constexpr std::string_view kNotFound = "NOTFOUND ";

// What render_policy_answer_checked gives: the payload and what had to be left out
// of it to stay within options.max_answer_bytes, so the caller can log it once.
struct RenderedAnswer {
  std::string text;                     // the payload, at most max_answer_bytes octets
  std::size_t full_bytes = 0;           // the payload's size had nothing been left out
  bool dropped_policy_strings = false;  // every "{ policy_string = ... }" left out
  bool dropped_mx_patterns = false;     // every TLSRPT attribute left out (mx_host_pattern,
                                        // policy_type, policy_domain)
  bool too_large = false;  // even "OK secure match=..." alone is over the limit: text is
                           // "TEMP ..." (the mail waits, as it would for an unreadable reply)

  bool capped() const { return dropped_policy_strings || dropped_mx_patterns || too_large; }
};

// enforce (or testing with strict_testing) ->
//   "OK secure match=P1:P2[ servername=hostname]" where each "*.x" is written ".x",
//   patterns in policy order, lower-case, duplicates removed;
//   with tlsrpt also " policy_type=sts policy_domain=DOMAIN", one " mx_host_pattern=P"
//   per mx in "*." form, and one " { policy_string = LINE }" per policy line.
// testing without strict_testing, none -> "NOTFOUND ".
// An answer longer than options.max_answer_bytes first loses all its policy_string
// attributes, then all its other TLSRPT attributes (see answer.cpp for why all and
// not some); when even the bare "OK secure match=..." is too long, it is "TEMP ...".
RenderedAnswer render_policy_answer_checked(const Policy& policy, std::string_view policy_domain,
                                            const AnswerOptions& options);

// render_policy_answer_checked(...).text.
std::string render_policy_answer(const Policy& policy, std::string_view policy_domain,
                                 const AnswerOptions& options);

// One log line's worth for a capped answer ("" when nothing was left out), e.g.
// "answer for example.com would be 106181 bytes, over the 100000-byte socketmap
// reply limit: dropped its policy_string attributes". policy_domain is printed
// escaped, so any string may be passed.
std::string describe_capped_answer(const RenderedAnswer& answer, std::string_view policy_domain,
                                   const AnswerOptions& options);

}  // namespace mtasts::sts
