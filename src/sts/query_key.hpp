#pragma once
// Turning the key Postfix sends to smtp_tls_policy_maps into a policy domain.
// Pure logic (libidn2 for UTF-8 -> A-label).
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace mtasts::sts {

struct QueryKey {
  enum class Kind {
    domain,           // a policy domain to resolve
    parent_domain,    // ".example.com" from Postfix's parent-domain walk: always NOTFOUND (§3.4)
    address_literal,  // "[192.0.2.1]", "[ipv6:...]", bare IP: no policy (§3.4)
    invalid,          // not a valid domain (bad label, too long, bad port...): NOTFOUND, logged
  };
  Kind kind = Kind::invalid;
  std::string domain;                 // lower-case A-label, no trailing dot (kind == domain)
  std::optional<std::uint16_t> port;  // from "[host]:port"
  bool bracketed = false;             // "[host]" or "[host]:port" (smart host, §3.4)
  std::string reason;                 // why invalid / literal, for the log
};

// Accepts what Postfix sends: any case, optional trailing dot, UTF-8 (converted
// with libidn2 to A-labels), ".parent" keys, "[host]" and "[host]:port".
QueryKey parse_query_key(std::string_view key);

}  // namespace mtasts::sts
