// Cache records read back from a store (Redis values here; SQLite rows hold the
// same fields and go through the same parse_policy): anyone with access to the
// store may have written them. Invariants: a record that decodes encodes again
// and decodes to the same fields (round trip); what decodes is consistent
// (times in order, a level from the known set, a policy that parse_policy took).
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "cache/redis_value.hpp"
#include "fuzz_check.hpp"

using namespace mtasts::cache;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view value(reinterpret_cast<const char*>(data), size);
  std::string why;
  if (auto policy = decode_redis_value("example.com", value, why)) {
    FUZZ_CHECK(policy->domain == "example.com");
    FUZZ_CHECK(policy->fetched_at <= policy->expires_at);
    auto again = encode_redis_value(*policy);
    FUZZ_CHECK(again.has_value());
    std::string why2;
    auto back = decode_redis_value("example.com", *again, why2);
    FUZZ_CHECK(back.has_value());
    FUZZ_CHECK(back->txt_id == policy->txt_id && back->body == policy->body);
    FUZZ_CHECK(back->fetched_at == policy->fetched_at && back->expires_at == policy->expires_at &&
               back->checked_at == policy->checked_at);
    FUZZ_CHECK(back->policy.mx == policy->policy.mx && back->policy.mode == policy->policy.mode);
  } else {
    FUZZ_CHECK(!why.empty());  // every rejection says why (it is logged)
  }
  why.clear();
  if (auto dane = decode_redis_dane_value("[mx.example.com]:25", value, why)) {
    FUZZ_CHECK(dane->destination == "[mx.example.com]:25");
    FUZZ_CHECK(dane->fetched_at <= dane->expires_at && dane->expires_at <= dane->keep_until);
    std::string why2;
    auto back = decode_redis_dane_value(dane->destination, encode_redis_dane_value(*dane), why2);
    FUZZ_CHECK(back.has_value());
    FUZZ_CHECK(back->level == dane->level && back->summary == dane->summary &&
               back->fetched_at == dane->fetched_at && back->expires_at == dane->expires_at &&
               back->keep_until == dane->keep_until);
  } else {
    FUZZ_CHECK(!why.empty());
  }
  return 0;
}
