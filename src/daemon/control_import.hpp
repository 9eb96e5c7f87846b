#pragma once
// An import's payload as the control connection reads it (mta-stsctl import FILE):
// line 1 must be the export header (control/transfer.hpp), each later line one
// record; what every line came to is tallied for the reply. No socket here: the
// connection feeds the lines and hands each record this yields to the lifecycle.
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <variant>

#include "cache/cached_dane.hpp"
#include "cache/cached_policy.hpp"
#include "control/transfer.hpp"
#include "resolver/adoption.hpp"

namespace mtasts::daemon {

class ImportSession {
 public:
  using Record = std::variant<cache::CachedPolicy, cache::CachedDane>;

  // The next line of the payload (without its line end). A record for the
  // lifecycle to adopt, or nothing when the line was settled here (the header,
  // or refused: not JSON, no header first, a second header).
  std::optional<Record> take(std::string_view text);
  // Line number of the last line taken (1 is the header).
  std::size_t line() const { return line_; }
  std::size_t imported() const { return tally_.imported; }
  // What the lifecycle made of the record of line `line`.
  void adopted(std::size_t line, resolver::Adoption adoption);
  // A record no lifecycle can take (a DANE result while DANE is off).
  void refuse(std::size_t line, std::string reason);
  // The reply's JSON (logged as one line) once the payload has ended; the
  // session starts over.
  std::string finish();

 private:
  std::size_t line_ = 0;
  bool header_ok_ = false;
  control::ImportTally tally_;
};

}  // namespace mtasts::daemon
