// The RFC 8461 §3.2 example policy, with the CRLF line ends a policy host may send:
// the parser's and the answer's tests start from the same text.
#pragma once

#include <string_view>

namespace mtasts::sts::testing {

inline constexpr std::string_view kRfcExample =
    "version: STSv1\r\n"
    "mode: enforce\r\n"
    "mx: mail.example.com\r\n"
    "mx: *.example.net\r\n"
    "mx: backupmx.example.com\r\n"
    "max_age: 604800\r\n";

}  // namespace mtasts::sts::testing
