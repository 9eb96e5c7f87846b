// One line of an mta-stsctl export file as the daemon's import reads it
// (control/transfer.hpp): whatever the bytes, decoding never throws, a line it
// refuses says why, and what it accepts is written back by export as a line
// that decodes to the same record (the format is a fixed point).
#include <cstddef>
#include <cstdint>
#include <string>

#include "control/protocol.hpp"
#include "control/transfer.hpp"
#include "fuzz_check.hpp"

namespace control = mtasts::control;

namespace {

void check_policy(const mtasts::cache::CachedPolicy& p) {
  // Export writes the text it holds: a body the line carried comes back as is.
  if (p.body.empty()) return;  // an empty body is rebuilt from fields the line had not
  const auto again = control::decode_transfer_line(control::policy_line(p));
  const auto* q = std::get_if<mtasts::cache::CachedPolicy>(&again.value);
  FUZZ_CHECK(q != nullptr);
  FUZZ_CHECK(q->domain == p.domain && q->txt_id == p.txt_id && q->body == p.body);
  FUZZ_CHECK(q->fetched_at == p.fetched_at && q->expires_at == p.expires_at &&
             q->checked_at == p.checked_at);
}

void check_dane(const mtasts::cache::CachedDane& d) {
  const auto again = control::decode_transfer_line(control::dane_line(d));
  const auto* e = std::get_if<mtasts::cache::CachedDane>(&again.value);
  FUZZ_CHECK(e != nullptr);
  FUZZ_CHECK(e->destination == d.destination && e->level == d.level && e->summary == d.summary);
  FUZZ_CHECK(e->fetched_at == d.fetched_at && e->expires_at == d.expires_at &&
             e->keep_until == d.keep_until);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view line = mtasts::fuzz::as_text(data, size);
  const auto decoded = control::decode_transfer_line(line);
  if (const auto* error = decoded.error()) {
    FUZZ_CHECK(!error->empty());
    // The reply that names it stays bounded and is JSON the client can read.
    control::ImportTally tally;
    tally.refuse(1, *error);
    FUZZ_CHECK(tally.errors.at(0).reason.size() <= control::kMaxReasonBytes + 3);
    const std::string reply = control::import_reply_json(tally);
    FUZZ_CHECK(control::Json::parse(reply).at("refused") == 1);
    return 0;
  }
  if (const auto* header = std::get_if<control::ExportHeader>(&decoded.value)) {
    FUZZ_CHECK(header->version == control::kExportVersion);
    const auto again =
        control::decode_transfer_line(control::export_header_line(header->exported_at));
    FUZZ_CHECK(std::get_if<control::ExportHeader>(&again.value) != nullptr);
  } else if (const auto* p = std::get_if<mtasts::cache::CachedPolicy>(&decoded.value)) {
    check_policy(*p);
  } else {
    check_dane(std::get<mtasts::cache::CachedDane>(decoded.value));
  }
  return 0;
}
