// A socketmap request payload "NAME KEY" and the key Postfix puts in it
// (smtp_tls_policy_maps lookups, RFC 8461 §3.4 for the key forms).
#include <cstddef>
#include <cstdint>
#include <string>

#include "fuzz_check.hpp"
#include "socketmap/netstring.hpp"
#include "sts/mx_pattern.hpp"
#include "sts/query_key.hpp"

using mtasts::sts::QueryKey;

namespace {

void check_key(std::string_view key) {
  const QueryKey parsed = mtasts::sts::parse_query_key(key);
  if (parsed.kind != QueryKey::Kind::domain) {
    return;
  }
  const std::string& domain = parsed.domain;
  FUZZ_CHECK(!domain.empty() && domain.size() <= 253);
  FUZZ_CHECK(domain.find_first_of("ABCDEFGHIJKLMNOPQRSTUVWXYZ") == std::string::npos);
  FUZZ_CHECK(domain.back() != '.');
  FUZZ_CHECK(mtasts::sts::is_valid_hostname(domain));
  FUZZ_CHECK(mtasts::sts::hostname_error(domain).empty());
  // The domain is what gets cached and looked up: it must be a fixed point.
  const QueryKey again = mtasts::sts::parse_query_key(domain);
  FUZZ_CHECK(again.kind == QueryKey::Kind::domain && again.domain == domain);
  FUZZ_CHECK(!again.port.has_value() && !again.bracketed);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view payload = mtasts::fuzz::as_text(data, size);
  const auto request = mtasts::socketmap::parse_request(payload);
  if (request) {
    // socketmap_table(5): the name ends at the first space, the key is the rest.
    FUZZ_CHECK(!request->name.empty());
    FUZZ_CHECK(request->name.find(' ') == std::string_view::npos);
    FUZZ_CHECK(std::string(request->name) + " " + std::string(request->key) == payload);
    check_key(request->key);
  } else {
    FUZZ_CHECK(payload.empty() || payload.front() == ' ' ||
               payload.find(' ') == std::string_view::npos);
    check_key(payload);
  }
  return 0;
}
