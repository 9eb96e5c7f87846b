#include "dns/server_set.hpp"

#include "dns/ldns.hpp"

#include <utility>

namespace mtasts::dns {

namespace {

// True for an answer another server may answer better (RFC 1035 §4.1.1 RCODE
// SERVFAIL, NOTIMP, REFUSED; with dnssec NOTIMP and REFUSED only); false for
// NXDOMAIN and answers, which every server would repeat. Read from the header
// alone: the full parse comes later, once.
bool worth_asking_next(const AresReply& reply, bool dnssec) {
  if (reply.status != ARES_SUCCESS || reply.message.size() < LDNS_HEADER_SIZE) return false;
  const int rcode = LDNS_RCODE_WIRE(reply.message.data());
  if (rcode == LDNS_RCODE_SERVFAIL) return !dnssec;
  return rcode == LDNS_RCODE_NOTIMPL || rcode == LDNS_RCODE_REFUSED;
}

}  // namespace

std::shared_ptr<ServerSet> ServerSet::create(boost::asio::io_context& io,
                                             const ResolverOptions& options) {
  std::shared_ptr<ServerSet> set(new ServerSet(io));
  set->drivers_.push_back(AresDriver::create(io, options));
  // The list as c-ares read it (from resolv.conf when none is configured).
  const auto servers = set->drivers_.front()->servers();
  for (std::size_t k = 1; k < servers.size(); ++k) {
    ResolverOptions rotated = options;
    rotated.nameservers.assign(servers.begin() + static_cast<long>(k), servers.end());
    rotated.nameservers.insert(rotated.nameservers.end(), servers.begin(),
                               servers.begin() + static_cast<long>(k));
    set->drivers_.push_back(AresDriver::create(io, rotated));
  }
  return set;
}

void ServerSet::send(std::vector<unsigned char> query, bool dnssec,
                     std::function<void(AresReply)> on_reply) {
  send_from(0, std::make_shared<const std::vector<unsigned char>>(std::move(query)), dnssec,
            std::move(on_reply));
}

void ServerSet::send_from(std::size_t index,
                          std::shared_ptr<const std::vector<unsigned char>> query, bool dnssec,
                          std::function<void(AresReply)> on_reply) {
  drivers_[index]->send(*query, [self = weak_from_this(), index, query, dnssec,
                                 on_reply = std::move(on_reply)](AresReply reply) mutable {
    auto set = self.lock();
    if (set && index + 1 < set->drivers_.size() && worth_asking_next(reply, dnssec)) {
      set->send_from(index + 1, std::move(query), dnssec, std::move(on_reply));
      return;
    }
    on_reply(std::move(reply));
  });
}

}  // namespace mtasts::dns
