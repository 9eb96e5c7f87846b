#pragma once
// DNS over c-ares, driven by the daemon's single Asio io_context. Nothing blocks.
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <boost/asio/io_context.hpp>

namespace mtasts::dns {

enum class Status {
  ok,         // answer with records
  no_data,    // NXDOMAIN or NODATA: the name definitely has no such record
  temp_fail,  // SERVFAIL, REFUSED, timeout, malformed answer, ...: try again later
};

// What exactly a status other than ok was, for callers that class failures
// (metrics, RFC 8460 result types); the error text says it for people.
enum class Cause : std::uint8_t {
  none,       // ok
  nxdomain,   // the name does not exist
  nodata,     // the name exists without records of the type (or a null MX)
  timeout,    // no answer from any server in time
  servfail,   // SERVFAIL: with a validating resolver also a bogus DNSSEC answer
  refused,    // REFUSED, or every server refused the connection
  malformed,  // an answer we could not use (bad message, truncated, wrong owner)
  other,
};
std::string_view to_string(Cause cause);

struct TxtResult {
  Status status = Status::temp_fail;
  std::vector<std::string> records;  // one entry per TXT RR, its strings concatenated
  std::string error;                 // for no_data/temp_fail: what happened ("NXDOMAIN", "timeout")
  Cause cause = Cause::none;
};

struct AddressResult {
  Status status = Status::temp_fail;
  std::vector<std::string> addresses;  // textual IPv4 then IPv6
  std::string error;
  Cause cause = Cause::none;
};

struct MxResult {
  Status status = Status::temp_fail;
  struct Mx {
    std::uint16_t preference;
    std::string host;  // lower-case, no trailing dot
  };
  std::vector<Mx> hosts;  // sorted by preference
  std::string error;
  Cause cause = Cause::none;
};

// A raw DNS message, for callers that parse it themselves (DNSSEC: AD bit, TLSA).
struct RawResult {
  Status status = Status::temp_fail;
  std::vector<unsigned char> message;  // the full response (empty on temp_fail)
  bool authenticated = false;          // AD bit in the response header
  std::string error;
  Cause cause = Cause::none;
};

// An answer whose DNSSEC status matters (DANE, RFC 7672): the records of one
// type, their TTL and whether the validating resolver vouched for them.
struct SecureResult {
  Status status = Status::temp_fail;
  bool authenticated = false;  // AD bit on every response of the (CNAME-followed) answer
  struct Record {
    std::uint16_t preference = 0;  // MX
    std::string data;              // MX: host (canonical); TLSA: RDATA as on the wire
  };
  std::vector<Record> records;
  std::uint32_t ttl = 0;  // smallest TTL seen, or the negative TTL (RFC 2308); 0 unknown
  std::string error;
  Cause cause = Cause::none;
};

struct ResolverOptions {
  // "ADDR", "ADDR:PORT", "[V6ADDR]:PORT". Empty: /etc/resolv.conf.
  std::vector<std::string> nameservers;
  std::chrono::milliseconds timeout{2000};  // per try
  int tries = 2;
};

class Resolver {
 public:
  Resolver(boost::asio::io_context& io, ResolverOptions options);  // throws on bad nameserver
  ~Resolver();
  Resolver(const Resolver&) = delete;
  Resolver& operator=(const Resolver&) = delete;

  // Callbacks run on the io_context thread, exactly once each, also when the
  // Resolver is destroyed with queries pending (then with temp_fail "shutdown").
  void query_txt(const std::string& name, std::function<void(TxtResult)> done);
  // A and AAAA in parallel; ok when either has addresses, no_data when both are
  // no_data, else temp_fail.
  void query_addresses(const std::string& name, std::function<void(AddressResult)> done);
  void query_mx(const std::string& name, std::function<void(MxResult)> done);
  // Sends a query with RD and the AD bit (RFC 6840 §5.7) and EDNS0 DO set.
  void query_raw(const std::string& name, int type, std::function<void(RawResult)> done);
  // MX or TLSA (or any type the message reader knows) with AD and DO set,
  // following CNAMEs; the records only count as secure when authenticated.
  void query_secure(const std::string& name, int type, std::function<void(SecureResult)> done);

  std::size_t pending() const;
  // A configuration reload: later lookups ask these nameservers (empty:
  // /etc/resolv.conf, read again). Throws like the constructor on a bad one,
  // and then nothing changes. Lookups already sent finish on the old servers.
  void set_nameservers(const std::vector<std::string>& nameservers);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace mtasts::dns
