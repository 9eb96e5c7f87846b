#include "sts/query_key.hpp"

#include <arpa/inet.h>
#include <idn2.h>

#include <algorithm>
#include <memory>

#include <fmt/format.h>

#include "sts/abnf.hpp"
#include "sts/excerpt.hpp"
#include "sts/mx_pattern.hpp"

namespace mtasts::sts {

namespace {

// Longer than any name whose A-label form fits in 253 octets (at most 253 code
// points of 4 UTF-8 octets, plus brackets and a port): refuse before libidn2.
constexpr std::size_t kMaxKeyLength = 1100;
constexpr std::size_t kMaxPortDigits = 5;
constexpr std::string_view kIpv6Tag = "ipv6:";  // RFC 5321 §4.1.3 IPv6-address-literal

QueryKey invalid(std::string reason) {
  QueryKey key;
  key.kind = QueryKey::Kind::invalid;
  key.reason = std::move(reason);
  return key;
}

// inet_pton needs a NUL-terminated string; a stack copy keeps the per-query
// path free of allocations, and the cheap character checks skip it for names.
bool is_ipv4(std::string_view text) {
  if (text.empty() || text.size() > 15 || !std::all_of(text.begin(), text.end(), [](char c) {
        return c == '.' || abnf::is_digit(c);
      })) {
    return false;
  }
  char copy[16] = {};
  std::copy(text.begin(), text.end(), copy);
  in_addr address{};
  return inet_pton(AF_INET, copy, &address) == 1;
}

bool is_ipv6(std::string_view text) {
  if (text.size() < 2 || text.size() > 45 || text.find(':') == std::string_view::npos) return false;
  char copy[46] = {};
  std::copy(text.begin(), text.end(), copy);
  in6_addr address{};
  return inet_pton(AF_INET6, copy, &address) == 1;
}

// Postfix next-hop ":port": 1..65535 in decimal (service names are not policy keys).
std::optional<std::uint16_t> parse_port(std::string_view text) {
  if (!abnf::all_digits(text) || text.size() > kMaxPortDigits) return std::nullopt;
  unsigned value = 0;
  for (const char c : text) value = value * 10 + static_cast<unsigned>(c - '0');
  if (value == 0 || value > 65535) return std::nullopt;
  return static_cast<std::uint16_t>(value);
}

struct ALabelResult {
  std::string domain;
  std::string error;
};

// Postfix sends keys in their original case and, with SMTPUTF8, as UTF-8
// (dict flag UTF8_REQUEST): lower-case ASCII, convert U-labels to A-labels.
ALabelResult to_a_labels(std::string_view host) {
  if (host.ends_with('.')) host.remove_suffix(1);       // "example.com." is example.com
  if (host.ends_with('.')) return {{}, "empty label"};  // "example.com.." is not a name
  if (host.empty()) return {{}, "empty domain"};
  std::string domain;
  const bool ascii = std::all_of(host.begin(), host.end(), abnf::is_ascii);
  if (ascii) {
    // A-labels pass through unchanged but for case: IDNA would reject valid
    // hostnames such as "ab--cd.example" that DNS and RFC 8461 accept.
    domain = abnf::ascii_lower(host);
  } else {
    const std::string input(host);
    char* output = nullptr;
    // UTS #46 non-transitional first (IDNA2008: "ß" stays ß), then transitional
    // (IDNA2003 mapping) for names only that accepts.
    int rc = idn2_to_ascii_8z(input.c_str(), &output, IDN2_NONTRANSITIONAL | IDN2_NFC_INPUT);
    if (rc != IDN2_OK) {
      idn2_free(output);
      output = nullptr;
      rc = idn2_to_ascii_8z(input.c_str(), &output, IDN2_TRANSITIONAL | IDN2_NFC_INPUT);
    }
    const std::unique_ptr<char, void (*)(void*)> owned(output, idn2_free);
    if (rc != IDN2_OK || output == nullptr) {
      return {{}, fmt::format("not a valid IDN: {}", idn2_strerror(rc))};
    }
    domain = abnf::ascii_lower(output);
    // The trailing dot is already gone, so a dot at the end now means UTS #46
    // mapped a label to nothing ("p.\u00AD" becomes "p."): not the same name,
    // and the cache key must never end in a dot.
    if (domain.ends_with('.')) return {{}, "a label maps to nothing under IDNA"};
  }
  if (auto error = hostname_error(domain); !error.empty()) return {{}, std::move(error)};
  return {std::move(domain), {}};
}

// UTS #46 §2.3 label separators: besides U+002E FULL STOP, U+3002 IDEOGRAPHIC FULL
// STOP, U+FF0E FULLWIDTH FULL STOP and U+FF61 HALFWIDTH IDEOGRAPHIC FULL STOP, which
// the §4 mapping step turns into U+002E. Mapped before anything looks for dots, so
// each form ends, starts (a parent-domain key) and separates labels exactly as "."
// does; libidn2 alone maps them only between labels it is given.
constexpr std::string_view kDotForms[] = {
    "\xe3\x80\x82",  // U+3002
    "\xef\xbc\x8e",  // U+FF0E
    "\xef\xbd\xa1",  // U+FF61
};

// Whether key holds a dot form; their UTF-8 forms all start with 0xE3 or 0xEF, so
// ASCII keys (nearly all of them) are passed over with one scan and no allocation.
bool has_dot_form(std::string_view key) {
  return std::any_of(std::begin(kDotForms), std::end(kDotForms),
                     [key](std::string_view form) { return key.find(form) != key.npos; });
}

// UTF-8 is self-synchronising: a dot form's three octets cannot be the tail of
// another sequence, so replacing them never changes a neighbouring character
// (and a key that is not UTF-8 stays not UTF-8).
std::string map_dot_forms(std::string_view key) {
  std::string out;
  out.reserve(key.size());
  std::size_t i = 0;
  while (i < key.size()) {
    const auto form =
        std::find_if(std::begin(kDotForms), std::end(kDotForms),
                     [&](std::string_view f) { return key.substr(i).starts_with(f); });
    if (form != std::end(kDotForms)) {
      out += '.';
      i += form->size();
    } else {
      out += key[i++];
    }
  }
  return out;
}

QueryKey address_literal(std::optional<std::uint16_t> port, bool bracketed) {
  QueryKey key;
  key.kind = QueryKey::Kind::address_literal;
  key.port = port;
  key.bracketed = bracketed;
  key.reason = "address literal: no policy (RFC 8461 §3.4)";
  return key;
}

}  // namespace

QueryKey parse_query_key(std::string_view key) {
  if (key.empty()) return invalid("empty key");
  if (key.size() > kMaxKeyLength) {
    return invalid(fmt::format("key longer than {} octets", kMaxKeyLength));
  }
  std::string mapped;
  if (!std::all_of(key.begin(), key.end(), abnf::is_ascii) && has_dot_form(key)) {
    mapped = map_dot_forms(key);
    key = mapped;
  }
  for (const char c : key) {
    if (abnf::is_ctl(c)) return invalid(fmt::format("control character in key '{}'", excerpt(key)));
    if (c == ' ') return invalid(fmt::format("space in key '{}'", excerpt(key)));
  }

  // §3.4: a subdomain never uses a parent's policy, so Postfix's parent-domain
  // walk (".example.com") always ends in NOTFOUND.
  if (key.front() == '.') {
    auto [domain, error] = to_a_labels(key.substr(1));
    if (!error.empty())
      return invalid(fmt::format("parent-domain key '{}': {}", excerpt(key), error));
    QueryKey parent;
    parent.kind = QueryKey::Kind::parent_domain;
    parent.domain = std::move(domain);
    parent.reason = "parent-domain lookup: no parent policy (RFC 8461 §3.4)";
    return parent;
  }

  std::string_view host = key;
  std::optional<std::uint16_t> port;
  bool bracketed = false;
  if (key.front() == '[') {
    // "[host]" / "[host]:port": a next-hop without MX lookup (smart host or
    // transport); §3.4: the smart host's domain is the policy domain.
    const std::size_t close = key.find(']');
    if (close == std::string_view::npos)
      return invalid(fmt::format("no ']' in '{}'", excerpt(key)));
    host = key.substr(1, close - 1);
    bracketed = true;
    const std::string_view rest = key.substr(close + 1);
    if (!rest.empty()) {
      if (rest.front() != ':') {
        return invalid(fmt::format("text after ']' in '{}'", excerpt(key)));
      }
      port = parse_port(rest.substr(1));
      if (!port) return invalid(fmt::format("bad port in '{}'", excerpt(key)));
    }
    if (host.empty()) return invalid("empty host in brackets");
    // RFC 5321 §4.1.3 literals: [192.0.2.1], [IPv6:2001:db8::1] (and bare [2001:db8::1]).
    if (abnf::iequals_ascii(host.substr(0, kIpv6Tag.size()), kIpv6Tag)) {
      if (is_ipv6(host.substr(kIpv6Tag.size()))) return address_literal(port, bracketed);
      return invalid(fmt::format("bad IPv6 literal '{}'", excerpt(key)));
    }
    if (is_ipv6(host) || is_ipv4(host)) return address_literal(port, bracketed);
  } else {
    if (is_ipv6(key)) return address_literal(std::nullopt, false);
    // "host:port" without brackets: an MX lookup to a non-default port.
    const std::size_t colon = key.find(':');
    if (colon != std::string_view::npos) {
      if (key.find(':', colon + 1) != std::string_view::npos) {
        return invalid(fmt::format("bad address '{}'", excerpt(key)));
      }
      host = key.substr(0, colon);
      port = parse_port(key.substr(colon + 1));
      if (!port) return invalid(fmt::format("bad port in '{}'", excerpt(key)));
    }
    if (is_ipv4(host)) return address_literal(port, bracketed);
  }

  auto [domain, error] = to_a_labels(host);
  if (!error.empty()) return invalid(fmt::format("key '{}': {}", excerpt(key), error));
  QueryKey result;
  result.kind = QueryKey::Kind::domain;
  result.domain = std::move(domain);
  result.port = port;
  result.bracketed = bracketed;
  return result;
}

}  // namespace mtasts::sts
