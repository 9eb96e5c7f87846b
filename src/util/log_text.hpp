#pragma once
// Untrusted text (query keys, names from DNS, peers' strings) on a log line, and a
// budget for repeated warnings. Pure logic: no clock, no logging here; the caller
// passes the time and writes the line.
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace mtasts::util {

inline constexpr std::size_t kLogTextLimit = 256;

// One log line's rendering of untrusted text. Nothing in it can end the line, start
// a terminal escape or reorder what is shown:
// - C0 controls (LF, CR, ESC...), DEL and "\" are written \xNN;
// - octets that are not well-formed UTF-8 (RFC 3629 §4: stray tails, overlongs,
//   surrogates, above U+10FFFF, cut sequences) are written \xNN, one per octet;
// - well-formed UTF-8 is kept, except C1 controls (U+0080-U+009F, e.g. U+009B CSI),
//   the line and paragraph separators (U+2028, U+2029) and the bidirectional
//   controls (U+200E, U+200F, U+202A-U+202E, U+2066-U+2069), written \uXXXX;
// - at most `limit` octets of rendering: an escape or character that does not fit
//   whole is not begun, and "...[+N bytes]" (N input octets not shown) follows.
// The rendering of any input is printable ASCII plus UTF-8 for printable characters.
std::string log_text(std::string_view text, std::size_t limit = kLogTextLimit);

// At most `lines` warnings per `interval` (a fixed window opened by the first
// warning after the previous window ended); the rest are counted, and the count is
// handed to the next warning allowed, to say "N similar warnings suppressed".
// The time comes from the caller (steady_clock in the daemon, any value in tests).
class LogBudget {
 public:
  using Clock = std::chrono::steady_clock;

  struct Permit {
    bool log = false;              // write this warning
    std::uint64_t suppressed = 0;  // warnings held back since the last one written
                                   // (only when log): append suppressed_note(suppressed)
  };

  LogBudget(std::size_t lines, Clock::duration interval);

  // One warning wants to be written at `now`.
  Permit take(Clock::time_point now);

  // For a timer when no further warning may come: once the window in which lines
  // were held back has ended, their count (and it is reset), else 0. Log it as
  // "N similar warnings suppressed" on a line of its own.
  std::uint64_t flush(Clock::time_point now);

  std::uint64_t pending() const { return suppressed_; }  // held back, not yet reported
  std::uint64_t total_suppressed() const { return total_suppressed_; }  // ever

 private:
  bool window_over(Clock::time_point now) const;

  std::size_t lines_;
  Clock::duration interval_;
  bool started_ = false;
  Clock::time_point window_start_{};
  std::size_t used_ = 0;
  std::uint64_t suppressed_ = 0;
  std::uint64_t total_suppressed_ = 0;
};

// "" for 0, " (1 similar warning suppressed)", " (N similar warnings suppressed)".
std::string suppressed_note(std::uint64_t suppressed);

}  // namespace mtasts::util
