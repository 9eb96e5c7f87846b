#include "daemon/control_import.hpp"

#include <utility>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

namespace mtasts::daemon {

std::optional<ImportSession::Record> ImportSession::take(std::string_view text) {
  const std::size_t line = ++line_;
  auto decoded = control::decode_transfer_line(text);
  if (const auto* error = decoded.error()) {
    if (line == 1) header_ok_ = false;
    tally_.refuse(line, line == 1 || header_ok_ ? *error : "line 1 is not a valid header");
    return std::nullopt;
  }
  const bool header = std::holds_alternative<control::ExportHeader>(decoded.value);
  if (line == 1) {
    // Without its header the file may be of another format or version: none
    // of it is read as records.
    header_ok_ = header;
    if (!header) {
      tally_.refuse(line, fmt::format("not the header (kind \"{}\", version {})",
                                      control::kExportKind, control::kExportVersion));
    }
    return std::nullopt;
  }
  if (!header_ok_) {
    tally_.refuse(line, "line 1 is not a valid header");
    return std::nullopt;
  }
  if (header) {
    tally_.refuse(line, "a second header");
    return std::nullopt;
  }
  if (auto* policy = std::get_if<cache::CachedPolicy>(&decoded.value)) {
    return Record{std::move(*policy)};
  }
  return Record{std::get<cache::CachedDane>(std::move(decoded.value))};
}

void ImportSession::adopted(std::size_t line, resolver::Adoption adoption) {
  using Outcome = resolver::Adoption::Outcome;
  switch (adoption.outcome) {
    case Outcome::adopted:
      ++tally_.imported;
      break;
    case Outcome::older:
      ++tally_.older;
      break;
    case Outcome::refused:
      refuse(line, std::move(adoption.reason));
      break;
  }
}

void ImportSession::refuse(std::size_t line, std::string reason) {
  spdlog::debug("control: import line {} refused: {}", line, reason);
  tally_.refuse(line, std::move(reason));
}

std::string ImportSession::finish() {
  spdlog::info("control: import: {} records imported, {} refused, {} older than held",
               tally_.imported, tally_.refused, tally_.older);
  std::string reply = control::import_reply_json(tally_);
  *this = ImportSession{};
  return reply;
}

}  // namespace mtasts::daemon
