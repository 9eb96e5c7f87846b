#pragma once
// The file `mta-stsctl export` writes and `mta-stsctl import` reads, and the
// lines the daemon exchanges for them on the control socket: JSON lines, one
// object each. The first line names the format and its version; every other
// line is one cached record, its kind named:
//   {"kind": "mta-stsd-export", "version": 1, "exported_at": 1700000000}
//   {"kind": "policy", "domain": ..., "txt_id": ..., "body": ..., "fetched_at": ...,
//    "expires_at": ..., "checked_at": ...}
//   {"kind": "dane", "destination": ..., "level": ..., "summary": ..., "fetched_at": ...,
//    "expires_at": ..., "keep_until": ...}
// A policy travels as the text fetched (what stores persist), never as its parsed
// fields: the importing daemon parses it again and checks it as any record read
// from a store (cache/record_check.hpp). Decoding here only checks the shape.
// Pure logic.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "cache/cached_dane.hpp"
#include "cache/cached_policy.hpp"

namespace mtasts::control {

inline constexpr std::string_view kExportKind = "mta-stsd-export";
inline constexpr int kExportVersion = 1;
// A policy body is at most 64 KiB (RFC 8461 §3.3, http/fetcher.hpp); JSON
// escaping may make it up to six times longer. A longer line is refused unread.
inline constexpr std::size_t kMaxTransferLine = 512 * 1024;
// At most this many refused lines are named in an import's reply; the rest
// are counted.
inline constexpr std::size_t kMaxImportReasons = 100;
// A reason is cut to this many bytes: a parser's message may quote the line it
// stopped in, and a hostile line is up to kMaxTransferLine long.
inline constexpr std::size_t kMaxReasonBytes = 300;

std::string export_header_line(std::int64_t exported_at);
// policy.body as fetched; when it is empty (memory keeps no body, and a policy
// only memory holds has none: cache type internal, or a store that cannot
// list, Redis) the text is rebuilt from the parsed fields (version, mode, mx,
// max_age), which parses to the same policy.
std::string policy_line(const cache::CachedPolicy& policy);
std::string dane_line(const cache::CachedDane& dane);

struct ExportHeader {
  int version = 0;
  std::int64_t exported_at = 0;
};

// One decoded line: the header, a policy (body not parsed yet: record.policy
// is empty), a DANE result, or why the line is none of them.
struct TransferLine {
  std::variant<std::string, ExportHeader, cache::CachedPolicy, cache::CachedDane> value;
  const std::string* error() const { return std::get_if<std::string>(&value); }
};
TransferLine decode_transfer_line(std::string_view line);

// What an import did, line by line (line 1 is the header), and the reply the
// daemon sends when the payload ends:
//   {"imported": N, "refused": N, "older": N,
//    "errors": [{"line": N, "reason": "..."}, ...], "unreported": N}
// "errors" names at most kMaxImportReasons refused lines; "unreported" counts
// the refused lines left out.
struct ImportTally {
  std::size_t imported = 0, refused = 0, older = 0, unreported = 0;
  struct Refusal {
    std::size_t line = 0;
    std::string reason;
  };
  std::vector<Refusal> errors;

  void refuse(std::size_t line, std::string reason);
};
std::string import_reply_json(const ImportTally& tally);

}  // namespace mtasts::control
