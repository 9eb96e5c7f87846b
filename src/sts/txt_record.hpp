#pragma once
// RFC 8461 §3.1: the `_mta-sts.DOMAIN` TXT record. Pure logic, no I/O.
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace mtasts::sts {

struct TxtRecord {
  std::string id;  // §3.1: 1*32(ALPHA / DIGIT), compared byte-for-byte with the cached id
  std::vector<std::pair<std::string, std::string>> extensions;  // sts-ext-name / sts-ext-value

  bool operator==(const TxtRecord&) const = default;
};

struct TxtParseResult {
  std::optional<TxtRecord> record;  // set on success
  std::string error;                // set on failure: a short human reason for the log
};

// §3.1: sts-id = 1*32(ALPHA / DIGIT). Also checked on ids read back from a
// cache store, where anything may have been written.
bool is_valid_id(std::string_view id);

// Parses one record whose strings are already concatenated (§3.1: "concatenated
// without spaces"). Checks the full ABNF: `v=STSv1` first, then `*WSP ";" *WSP`
// delimited fields, `id` required, extension names/values, optional trailing `;`.
// `id` must appear exactly once: a second `id` makes the record invalid (the RFC
// requires one id identifying the policy; two leave the version ambiguous).
TxtParseResult parse_txt_record(std::string_view text);

// True when a record starts with the sts-version field `v=STSv1` followed by
// end of text, WSP or `;` (§3.1: other records are discarded; `v=STSv10` is not STSv1).
bool has_sts_version_prefix(std::string_view text);

// §3.1: from all TXT records at `_mta-sts.DOMAIN` (each already concatenated),
// discard those without the STSv1 prefix; exactly one must remain and be valid.
TxtParseResult select_txt_record(const std::vector<std::string>& records);

}  // namespace mtasts::sts
