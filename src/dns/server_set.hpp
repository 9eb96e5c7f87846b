#pragma once
// The configured nameservers, each asked in turn when one answers SERVFAIL,
// REFUSED or NOTIMP. c-ares 1.18 with ARES_FLAG_NOCHECKRESP (needed to see
// those RCODEs at all) hands back the first server's answer without asking the
// next, so a single broken or misconfigured resolver in the list would fail
// every lookup. As stub resolvers do, the next server gets the same query.
//
// Except SERVFAIL on a DNSSEC query (DANE): from a validating resolver it means
// "bogus" (RFC 4035 §5.5), which must defer the mail (RFC 7672 §2.1.1); asking
// a server that may not validate could turn it into an unsigned answer.
//
// One c-ares channel per server order: channel k starts with server k and
// keeps the others behind it, so each channel still moves on by itself when a
// server does not answer at all (timeouts).
#include <cstddef>
#include <functional>
#include <memory>
#include <vector>

#include <boost/asio/io_context.hpp>

#include "dns/ares_driver.hpp"
#include "dns/resolver.hpp"

namespace mtasts::dns {

class ServerSet : public std::enable_shared_from_this<ServerSet> {
 public:
  // Throws like AresDriver::create.
  static std::shared_ptr<ServerSet> create(boost::asio::io_context& io,
                                           const ResolverOptions& options);

  // on_reply runs once, posted to the io_context, with the answer of the first
  // server whose RCODE is not SERVFAIL/REFUSED/NOTIMP (SERVFAIL counts as an
  // answer when dnssec), or else of the last one asked. Destroying the set ends
  // pending queries like AresDriver does.
  void send(std::vector<unsigned char> query, bool dnssec, std::function<void(AresReply)> on_reply);

  boost::asio::io_context& io() { return io_; }

 private:
  explicit ServerSet(boost::asio::io_context& io) : io_(io) {}
  void send_from(std::size_t index, std::shared_ptr<const std::vector<unsigned char>> query,
                 bool dnssec, std::function<void(AresReply)> on_reply);

  boost::asio::io_context& io_;
  std::vector<std::shared_ptr<AresDriver>> drivers_;  // drivers_[k]: server k first
};

}  // namespace mtasts::dns
