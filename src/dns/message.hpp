#pragma once
// DNS messages on the wire, built and read with ldns: c-ares 1.18 neither sets
// the AD/DO bits nor exposes the AD bit, and its parsers do not follow CNAMEs
// the way RFC 8461 lookups need.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "dns/outcome.hpp"

namespace mtasts::dns {

// DNS flag day 2020: the largest EDNS0 UDP payload that avoids fragmentation.
inline constexpr std::uint16_t kEdnsUdpSize = 1232;
// CNAMEs followed for one lookup before giving up.
inline constexpr std::size_t kMaxCnameHops = 8;

// A name as compared in this module: lower-case presentation form (ldns
// escapes), no trailing dot ("." for the root). nullopt when not a valid name.
std::optional<std::string> canonical_name(std::string_view name);

// A query with RD set and an EDNS0 OPT record (UDP size kEdnsUdpSize). With
// dnssec, also AD (RFC 6840 §5.7) and DO (RFC 3225). A random message ID.
// nullopt when name is not a valid domain name.
std::optional<std::vector<unsigned char>> build_query(std::string_view name, std::uint16_t type,
                                                      bool dnssec);

// One record's data: the TXT strings concatenated (RFC 8461 §3.1), the
// textual address (A/AAAA), the MX host (canonical) with its preference, or a
// TLSA record's RDATA as on the wire (usage, selector, type, data).
struct Record {
  std::uint16_t preference = 0;
  std::string data;
};

struct Answer {
  Outcome outcome;
  std::vector<Record> records;  // when outcome.status == ok
  // Set when the CNAME chain ends at a name this message holds no records
  // for: query that name next (it is chain.back()).
  bool follow = false;
  // How long this answer may be cached: the smallest TTL of the records and
  // CNAMEs used, or for NXDOMAIN/NODATA the negative TTL (RFC 2308 §5: the
  // SOA's TTL capped by its MINIMUM); 0 when unknown.
  std::uint32_t ttl = 0;
  bool authenticated = false;  // the response's AD bit (RFC 4035 §3.2.3)
};

// Reads the records of `type` for chain.back() from a response, following
// CNAMEs in the answer section and appending each target to `chain` (which
// starts with the name asked for). Only records owned by a name in the chain
// are used. Loops and chains longer than kMaxCnameHops are temp_fail.
Answer read_answer(const std::vector<unsigned char>& message, std::uint16_t type,
                   std::vector<std::string>& chain);

struct RawVerdict {
  Outcome outcome;
  bool authenticated = false;  // AD bit
};

// Status of a response from its RCODE and answer count, plus its AD bit.
RawVerdict read_raw(const std::vector<unsigned char>& message);

}  // namespace mtasts::dns
