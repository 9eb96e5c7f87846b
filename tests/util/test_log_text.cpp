// Untrusted text on log lines (issue 16: keys logged raw let an LF or ESC forge
// log lines) and the budget for repeated warnings (20,000 bad keys gave 19,924).
#include <doctest/doctest.h>

#include <chrono>
#include <string>

#include "util/log_text.hpp"

using mtasts::util::kLogTextLimit;
using mtasts::util::log_text;
using mtasts::util::LogBudget;
using mtasts::util::suppressed_note;
using namespace std::string_literals;
using namespace std::chrono_literals;

namespace {

// No octet that ends a line, starts an escape sequence or is not UTF-8.
bool is_safe(std::string_view text) {
  for (const char c : text) {
    const auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u == 0x7f) return false;
  }
  return true;
}

}  // namespace

TEST_CASE("log_text: printable ASCII and valid UTF-8 are kept") {
  CHECK(log_text("") == "");
  CHECK(log_text("example.com") == "example.com");
  CHECK(log_text("[mail.example.org]:587 x'y\"z") == "[mail.example.org]:587 x'y\"z");
  CHECK(log_text("b\xc3\xbc"
                 "cher.example") ==
        "b\xc3\xbc"
        "cher.example");
  CHECK(log_text("\xe4\xbe\x8b\xe3\x81\x88\xe3\x80\x82jp") ==
        "\xe4\xbe\x8b\xe3\x81\x88\xe3\x80\x82jp");                    // 例え。jp
  CHECK(log_text("\xf0\x9f\x93\xa7") == "\xf0\x9f\x93\xa7");          // U+1F4E7, 4 octets
  CHECK(log_text("\xc2\xa0\xef\xbf\xbd") == "\xc2\xa0\xef\xbf\xbd");  // U+00A0, U+FFFD
}

TEST_CASE("log_text: controls, DEL and backslash are escaped") {
  CHECK(log_text("a\nb") == "a\\x0ab");
  CHECK(log_text("a\r\nfake: warning") == "a\\x0d\\x0afake: warning");
  CHECK(log_text("\x1b[31mred") == "\\x1b[31mred");
  CHECK(log_text("x\x7f") == "x\\x7f");
  CHECK(log_text("nul\0x"s) == "nul\\x00x");
  CHECK(log_text("\t") == "\\x09");
  // The backslash is escaped too, so "\x0a" in the log always means an LF was sent.
  CHECK(log_text("a\\x0ab") == "a\\x5cx0ab");
}

TEST_CASE("log_text: octets that are not UTF-8 are escaped one by one") {
  CHECK(log_text("\xff\xfe.example") == "\\xff\\xfe.example");
  CHECK(log_text("\x80") == "\\x80");                             // stray tail
  CHECK(log_text("\xc3") == "\\xc3");                             // cut at the end
  CHECK(log_text("\xc3x") == "\\xc3x");                           // cut in the middle
  CHECK(log_text("\xc0\xaf") == "\\xc0\\xaf");                    // overlong "/"
  CHECK(log_text("\xe0\x80\xaf") == "\\xe0\\x80\\xaf");           // overlong, 3 octets
  CHECK(log_text("\xed\xa0\x80") == "\\xed\\xa0\\x80");           // surrogate U+D800
  CHECK(log_text("\xf4\x90\x80\x80") == "\\xf4\\x90\\x80\\x80");  // above U+10FFFF
  CHECK(log_text("\xf5\x80\x80\x80") == "\\xf5\\x80\\x80\\x80");
  CHECK(log_text("\xe3\x80") == "\\xe3\\x80");  // U+3002 cut short
  // An escape byte after a cut sequence is still escaped on its own.
  CHECK(log_text("\xc3\x1b[2J") == "\\xc3\\x1b[2J");
}

TEST_CASE("log_text: characters that act on the display are escaped") {
  CHECK(log_text("\xc2\x9b"
                 "31m") == "\\u009b31m");    // C1 CSI
  CHECK(log_text("\xc2\x85") == "\\u0085");  // NEL
  CHECK(log_text("a\xe2\x80\xa8"
                 "b") == "a\\u2028b");           // LINE SEPARATOR
  CHECK(log_text("\xe2\x80\xa9") == "\\u2029");  // PARAGRAPH SEPARATOR
  CHECK(log_text("moc.\xe2\x80\xae"
                 "elpmaxe") == "moc.\\u202eelpmaxe");  // RLO
  CHECK(log_text("\xe2\x81\xa6\xe2\x81\xa9") == "\\u2066\\u2069");
  CHECK(log_text("\xe2\x80\x8e\xe2\x80\x8f") == "\\u200e\\u200f");
}

TEST_CASE("log_text: the length is capped, never in the middle of an escape") {
  const std::string long_key(10000, 'a');
  const std::string shown = log_text(long_key);
  CHECK(shown == std::string(kLogTextLimit, 'a') + "...[+9744 bytes]");

  CHECK(log_text("abcdef", 3) == "abc...[+3 bytes]");
  CHECK(log_text("abc", 3) == "abc");
  CHECK(log_text("ab\n", 3) == "ab...[+1 bytes]");  // "\x0a" would not fit whole
  CHECK(log_text("ab\n", 6) == "ab\\x0a");
  CHECK(log_text("a\xc3\xbc", 2) == "a...[+2 bytes]");  // ü not cut
  CHECK(log_text("a\xc3\xbc", 3) == "a\xc3\xbc");
  CHECK(log_text("x", 0) == "...[+1 bytes]");

  // Escapes count towards the limit: 10,000 LFs give a bounded line.
  const std::string lfs = log_text(std::string(10000, '\n'));
  CHECK(lfs.size() <= kLogTextLimit + 20);
  CHECK(lfs.starts_with("\\x0a\\x0a"));
  CHECK(lfs.ends_with("...[+9936 bytes]"));
}

TEST_CASE("log_text: any octet string renders safe") {
  std::string all;
  for (int c = 0; c < 256; ++c) all += static_cast<char>(c);
  for (const std::string& input : {all, all + all, std::string("\xe2\x80\xae\n\x1b", 5)}) {
    const std::string shown = log_text(input, 100000);
    CHECK(is_safe(shown));
    CHECK(shown.find('\n') == std::string::npos);
  }
  // Every single octet and every pair, capped or not.
  for (int a = 0; a < 256; ++a) {
    for (int b = 0; b < 256; b += 7) {
      const std::string input{static_cast<char>(a), static_cast<char>(b)};
      CHECK(is_safe(log_text(input)));
      CHECK(is_safe(log_text(input, 1)));
    }
  }
}

TEST_CASE("LogBudget: N lines per interval, then a count of the rest") {
  const LogBudget::Clock::time_point t0{};
  LogBudget budget(3, 10s);
  for (int i = 0; i < 3; ++i) {
    const auto permit = budget.take(t0 + std::chrono::seconds(i));
    CHECK(permit.log);
    CHECK(permit.suppressed == 0);
  }
  for (int i = 0; i < 100; ++i) CHECK_FALSE(budget.take(t0 + 5s).log);
  CHECK(budget.pending() == 100);
  CHECK_FALSE(budget.take(t0 + 9999ms).log);  // the window is still open
  CHECK(budget.pending() == 101);

  // The next window: the first line carries the count, once.
  const auto next = budget.take(t0 + 10s);
  CHECK(next.log);
  CHECK(next.suppressed == 101);
  CHECK(suppressed_note(next.suppressed) == " (101 similar warnings suppressed)");
  const auto after = budget.take(t0 + 11s);
  CHECK(after.log);
  CHECK(after.suppressed == 0);
  CHECK(budget.pending() == 0);
  CHECK(budget.total_suppressed() == 101);
}

TEST_CASE("LogBudget: 20,000 bad keys in a burst give a handful of lines") {
  const LogBudget::Clock::time_point t0{};
  LogBudget budget(10, 60s);
  int written = 0;
  std::uint64_t reported = 0;
  for (int i = 0; i < 20000; ++i) {
    // 20,000 keys over 100 seconds: two windows.
    const auto permit = budget.take(t0 + std::chrono::milliseconds(i * 5));
    if (permit.log) {
      ++written;
      reported += permit.suppressed;
    }
  }
  CHECK(written == 20);
  reported += budget.flush(t0 + 200s);
  CHECK(reported == 20000 - 20);  // every warning is written or counted
  CHECK(budget.total_suppressed() == 20000 - 20);
}

TEST_CASE("LogBudget: flush reports a burst that no later warning follows") {
  const LogBudget::Clock::time_point t0{};
  LogBudget budget(1, 1min);
  CHECK(budget.flush(t0) == 0);
  CHECK(budget.take(t0).log);
  CHECK_FALSE(budget.take(t0 + 1s).log);
  CHECK_FALSE(budget.take(t0 + 2s).log);
  CHECK(budget.flush(t0 + 30s) == 0);  // window still open: not yet
  CHECK(budget.flush(t0 + 60s) == 2);
  CHECK(budget.flush(t0 + 61s) == 0);  // reported once
  const auto permit = budget.take(t0 + 62s);
  CHECK(permit.log);
  CHECK(permit.suppressed == 0);
}

TEST_CASE("LogBudget: time going backwards opens a new window") {
  const LogBudget::Clock::time_point t0 = LogBudget::Clock::time_point{} + 1h;
  LogBudget budget(1, 10s);
  CHECK(budget.take(t0).log);
  CHECK_FALSE(budget.take(t0 + 1s).log);
  const auto permit = budget.take(t0 - 30min);
  CHECK(permit.log);
  CHECK(permit.suppressed == 1);
}

TEST_CASE("LogBudget: zero lines writes nothing, counts everything") {
  const LogBudget::Clock::time_point t0{};
  LogBudget budget(0, 1s);
  for (int i = 0; i < 5; ++i) CHECK_FALSE(budget.take(t0 + std::chrono::seconds(i)).log);
  CHECK(budget.total_suppressed() == 5);
  CHECK(budget.flush(t0 + 10s) == 5);
}

TEST_CASE("suppressed_note") {
  CHECK(suppressed_note(0) == "");
  CHECK(suppressed_note(1) == " (1 similar warning suppressed)");
  CHECK(suppressed_note(19924) == " (19924 similar warnings suppressed)");
}
