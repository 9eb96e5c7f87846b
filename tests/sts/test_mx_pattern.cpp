// RFC 8461 §3.2 mx patterns, §4.1 matching, and hostname validity.
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "sts/mx_pattern.hpp"

using mtasts::sts::hostname_error;
using mtasts::sts::is_valid_hostname;
using mtasts::sts::is_valid_mx_pattern;
using mtasts::sts::mx_pattern_matches;
using mtasts::sts::normalize_mx_pattern;
using namespace std::string_literals;

namespace {

// n labels "aaa...a" of the given length joined by dots.
std::string name_of(int labels, std::size_t label_length) {
  std::string name;
  for (int i = 0; i < labels; ++i) {
    if (i > 0) name += '.';
    name += std::string(label_length, 'a');
  }
  return name;
}

}  // namespace

TEST_CASE("hostnames: LDH labels, lengths, numeric TLD") {
  for (const std::string name :
       {"example.com", "EXAMPLE.com", "mail.example.com.", "localhost", "a", "a-b.c", "1.example",
        "123.example.com", "x1", "a.b.c.d.e", "xn--bcher-kva.example", "ab--cd.example"}) {
    INFO(name);
    CHECK(is_valid_hostname(name));
    CHECK(hostname_error(name).empty());
  }
  CHECK(is_valid_hostname(std::string(63, 'a') + ".com"));
  CHECK(is_valid_hostname(name_of(4, 62) + ".a"));  // 253 octets
  CHECK(name_of(4, 62).size() + 2 == 253);
  CHECK(is_valid_hostname(name_of(4, 62) + ".a."));  // plus the root dot

  auto why = [](std::string_view name) { return hostname_error(name); };
  CHECK(why("") == "empty name");
  CHECK(why(".") == "empty name");
  CHECK(why("..") == "empty label");
  CHECK(why(".example.com") == "empty label");
  CHECK(why("example..com") == "empty label");
  CHECK(why("example.com..") == "empty label");
  CHECK(why(std::string(64, 'a') + ".com") ==
        "label '" + std::string(64, 'a') + "' longer than 63 octets");
  CHECK(why(name_of(4, 62) + ".ab") == "name longer than 253 octets");  // 254 octets
  CHECK(why(std::string(100000, 'a')) == "name longer than 253 octets");
  CHECK(why("-mail.example") == "label '-mail' begins or ends with a hyphen");
  CHECK(why("mail-.example") == "label 'mail-' begins or ends with a hyphen");
  CHECK(why("example.com-") == "label 'com-' begins or ends with a hyphen");
  CHECK(why("mail_1.example") == "label 'mail_1' is not letters, digits and hyphens");
  CHECK(why("*.example") == "label '*' is not letters, digits and hyphens");
  CHECK(why("a b.example") == "label 'a b' is not letters, digits and hyphens");
  CHECK(why("a\0b.example"s) == "label 'a\\x00b' is not letters, digits and hyphens");
  CHECK(why("b\xc3\xbc"
            "cher.example") == "label 'b\\xc3\\xbccher' is not letters, digits and hyphens");
  CHECK(why("192.0.2.1") == "top-level label '1' is numeric");
  CHECK(why("192.0.2.1.") == "top-level label '1' is numeric");
  CHECK(why("example.123") == "top-level label '123' is numeric");
  CHECK(why("12345") == "top-level label '12345' is numeric");
  CHECK(why("[192.0.2.1]") == "label '[192' is not letters, digits and hyphens");
}

TEST_CASE("mx patterns: validity (§3.2 [\"*.\"] Domain)") {
  for (const char* pattern :
       {"mail.example.com", "*.example.com", "MAIL.EXAMPLE.COM", "*.EXAMPLE.COM.",
        "mail.example.com.", "*.com", "localhost", "xn--bcher-kva.example"}) {
    INFO(pattern);
    CHECK(is_valid_mx_pattern(pattern));
  }
  for (const std::string& pattern :
       std::vector<std::string>{"",
                                ".",
                                "*",
                                "*.",
                                "*..",
                                "**.example.com",
                                "*.*.example.com",
                                "*example.com",
                                "mail*.example.com",
                                "mail.*.example.com",
                                "mail.example.*",
                                ".example.com",
                                "example..com",
                                "example.com..",
                                "192.0.2.1",
                                "*.192.0.2.1",
                                "[192.0.2.1]",
                                "2001:db8::1",
                                "mail.example.com:25",
                                "mail example.com",
                                "b\xc3\xbc"
                                "cher.example",
                                "*." + std::string(64, 'a') + ".example",
                                "-mail.example.com",
                                "mail_1.example.com",
                                "mail.example.com\0"s}) {
    INFO(pattern);
    CHECK_FALSE(is_valid_mx_pattern(pattern));
  }
}

TEST_CASE("mx patterns: normalization") {
  CHECK(normalize_mx_pattern("Mail.Example.COM.") == "mail.example.com");
  CHECK(normalize_mx_pattern("*.Example.COM") == "*.example.com");
  CHECK(normalize_mx_pattern("mail.example.com") == "mail.example.com");
}

TEST_CASE("mx patterns: matching (§4.1)") {
  struct Case {
    const char* pattern;
    const char* host;
    bool matches;
  };
  for (const Case& c : {
           Case{"mail.example.com", "mail.example.com", true},
           Case{"mail.example.com", "MAIL.Example.Com", true},
           Case{"MAIL.EXAMPLE.COM", "mail.example.com", true},
           Case{"mail.example.com.", "mail.example.com", true},
           Case{"mail.example.com", "mail.example.com.", true},
           Case{"mail.example.com.", "mail.example.com.", true},
           Case{"mail.example.com", "mail2.example.com", false},
           Case{"mail.example.com", "example.com", false},
           Case{"mail.example.com", "x.mail.example.com", false},
           Case{"mail.example.com", "mail.example.com.evil", false},
           Case{"*.example.com", "mail.example.com", true},
           Case{"*.example.com", "MX1.EXAMPLE.COM.", true},
           Case{"*.Example.Com.", "mx1.example.com", true},
           Case{"*.example.com", "example.com", false},      // zero labels
           Case{"*.example.com", "a.b.example.com", false},  // two labels
           Case{"*.example.com", ".example.com", false},     // empty label
           Case{"*.example.com", "mailexample.com", false},
           Case{"*.example.com", "mail.example.org", false},
           Case{"*.example.com", "mail.notexample.com", false},
           Case{"*.example.com", "mail.example.com.evil", false},
           Case{"*.example.com", "", false},
           Case{"*.example.com", ".", false},
           Case{"", "", false},
           Case{".", ".", false},
           Case{"*", "mail", false},
       }) {
    INFO(c.pattern, " vs ", c.host);
    CHECK(mx_pattern_matches(c.pattern, c.host) == c.matches);
  }
}
