#include "dns/lookup.hpp"

#include <utility>
#include <vector>

#include <boost/asio/post.hpp>

namespace mtasts::dns {
namespace {

struct Chase : std::enable_shared_from_this<Chase> {
  std::weak_ptr<ServerSet> servers;
  std::uint16_t type = 0;
  bool dnssec = false;
  bool authenticated = true;       // so far, every response had AD
  std::vector<std::string> chain;  // the name asked for, then each CNAME target
  std::function<void(Answer)> done;

  void ask(ServerSet& d) {
    auto query = build_query(chain.back(), type, dnssec);
    if (!query) {
      boost::asio::post(d.io(), [self = shared_from_this()] {
        self->finish({Status::temp_fail, "invalid name", Cause::other});
      });
      return;
    }
    d.send(std::move(*query), dnssec,
           [self = shared_from_this()](AresReply reply) { self->on_reply(std::move(reply)); });
  }

  void on_reply(AresReply reply) {
    if (reply.status != ARES_SUCCESS || reply.message.empty()) {
      finish(outcome_of_ares_status(reply.status));
      return;
    }
    Answer answer = read_answer(reply.message, type, chain);
    authenticated = authenticated && answer.authenticated;
    answer.authenticated = dnssec && authenticated;
    if (!answer.follow) {
      done(std::move(answer));
      return;
    }
    auto d = servers.lock();
    if (!d) {
      finish({Status::temp_fail, "shutdown", Cause::other});
      return;
    }
    ask(*d);
  }

  void finish(Outcome outcome) {
    Answer answer;
    answer.outcome = std::move(outcome);
    done(std::move(answer));
  }
};

}  // namespace

void lookup(const std::shared_ptr<ServerSet>& servers, const std::string& name, std::uint16_t type,
            std::function<void(Answer)> done, bool dnssec) {
  auto chase = std::make_shared<Chase>();
  chase->dnssec = dnssec;
  chase->servers = servers;
  chase->type = type;
  chase->done = std::move(done);
  auto canonical = canonical_name(name);
  if (!canonical) {
    // Still asynchronous: callers rely on done never running inside their call.
    boost::asio::post(servers->io(), [chase] {
      chase->finish({Status::temp_fail, "invalid name", Cause::other});
    });
    return;
  }
  chase->chain.push_back(std::move(*canonical));
  chase->ask(*servers);
}

}  // namespace mtasts::dns
