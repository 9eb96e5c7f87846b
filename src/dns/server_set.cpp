#include "dns/server_set.hpp"

#include <utility>

namespace mtasts::dns {

namespace {
constexpr unsigned kRcodeServfail = 2;
constexpr unsigned kRcodeNotimp = 4;
constexpr unsigned kRcodeRefused = 5;
constexpr std::size_t kHeaderSize = 12;
}  // namespace

bool worth_asking_next(const AresReply& reply, bool dnssec) {
  if (reply.status != ARES_SUCCESS || reply.message.size() < kHeaderSize) return false;
  const unsigned rcode = reply.message[3] & 0x0fu;
  if (rcode == kRcodeServfail) return !dnssec;
  return rcode == kRcodeNotimp || rcode == kRcodeRefused;
}

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
