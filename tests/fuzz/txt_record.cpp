// RFC 8461 §3.1 TXT records: the whole input as one record, and the input split
// at LF as the set of TXT records found at _mta-sts.DOMAIN.
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "fuzz_check.hpp"
#include "sts/txt_record.hpp"

using mtasts::sts::parse_txt_record;
using mtasts::sts::TxtRecord;

namespace {

// §3.1: sts-id = 1*32(ALPHA / DIGIT).
bool is_valid_id(std::string_view id) {
  if (id.empty() || id.size() > 32) return false;
  for (const char c : id) {
    const bool alnum = mtasts::fuzz::is_upper_ascii(c) || mtasts::fuzz::is_lower_ascii(c) ||
                       (c >= '0' && c <= '9');
    if (!alnum) return false;
  }
  return true;
}

void check_accepted(std::string_view text, const TxtRecord& record) {
  FUZZ_CHECK(is_valid_id(record.id));
  FUZZ_CHECK(mtasts::sts::has_sts_version_prefix(text));
  // The id is compared byte-for-byte with the cached one: the minimal record
  // carrying it must give it back unchanged.
  const auto minimal = parse_txt_record("v=STSv1; id=" + record.id);
  FUZZ_CHECK(minimal.record.has_value() && minimal.record->id == record.id);
  FUZZ_CHECK(minimal.record->extensions.empty());
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text = mtasts::fuzz::as_text(data, size);

  const auto single = parse_txt_record(text);
  FUZZ_CHECK(single.record.has_value() == single.error.empty());
  if (single.record) check_accepted(text, *single.record);

  std::vector<std::string> records;
  for (std::string_view rest = text;;) {
    const auto [record, after] = mtasts::fuzz::split_once(rest, '\n');
    records.emplace_back(record);
    if (record.size() == rest.size()) break;
    rest = after;
  }
  const auto selected = mtasts::sts::select_txt_record(records);
  FUZZ_CHECK(selected.record.has_value() == selected.error.empty());
  if (selected.record) {
    // §3.1: exactly one record has the STSv1 prefix, and it is the one chosen.
    std::size_t with_prefix = 0;
    const std::string* chosen = nullptr;
    for (const auto& record : records) {
      if (mtasts::sts::has_sts_version_prefix(record)) {
        ++with_prefix;
        chosen = &record;
      }
    }
    FUZZ_CHECK(with_prefix == 1);
    const auto direct = parse_txt_record(*chosen);
    FUZZ_CHECK(direct.record.has_value() && *direct.record == *selected.record);
    check_accepted(*chosen, *selected.record);
  }
  return 0;
}
