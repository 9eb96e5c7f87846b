#include "dns/resolver.hpp"

#include "dns/ldns.hpp"

#include <algorithm>
#include <utility>

#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>

#include "dns/lookup.hpp"
#include "dns/message.hpp"
#include "dns/server_set.hpp"

namespace mtasts::dns {

struct Resolver::Impl {
  boost::asio::io_context& io;
  // Lookups hold it weakly: destroying the Resolver destroys the c-ares channels, and
  // the queries still in them end with "shutdown".
  std::shared_ptr<ServerSet> servers;
  ResolverOptions options;
  // Server sets replaced by a reload, kept until their lookups are surely done
  // (tries x timeout), so that none ends with "shutdown".
  std::vector<std::shared_ptr<ServerSet>> retired;
  std::unique_ptr<boost::asio::steady_timer> retire_timer;
  // Callbacks not yet run; shared so late completions can still count down.
  std::shared_ptr<std::size_t> pending = std::make_shared<std::size_t>(0);

  // Wraps done so pending() counts it until it has run.
  template <typename Result>
  std::function<void(Result)> counted(std::function<void(Result)> done) {
    ++*pending;
    return [count = pending, done = std::move(done)](Result r) {
      --*count;
      done(std::move(r));
    };
  }
};

namespace {

// Both halves of query_addresses, joined when the second one arrives.
struct AddressJoin {
  Answer v4, v6;
  int remaining = 2;
  std::function<void(AddressResult)> done;

  static std::string join_errors(const Answer& a, const Answer& b) {
    if (a.outcome.error == b.outcome.error) return a.outcome.error;
    return "A: " + a.outcome.error + "; AAAA: " + b.outcome.error;
  }

  void complete() {
    AddressResult r;
    const Status s4 = v4.outcome.status, s6 = v6.outcome.status;
    if (s4 == Status::ok || s6 == Status::ok) {
      r.status = Status::ok;
      r.cause = Cause::none;
      for (auto* half : {&v4, &v6}) {
        for (auto& rec : half->records) r.addresses.push_back(std::move(rec.data));
      }
    } else if (s4 == Status::no_data && s6 == Status::no_data) {
      r.status = Status::no_data;
      r.error = join_errors(v4, v6);
      // NXDOMAIN for either half means the name does not exist at all.
      r.cause = v4.outcome.cause == Cause::nxdomain || v6.outcome.cause == Cause::nxdomain
                    ? Cause::nxdomain
                    : Cause::nodata;
    } else {
      r.status = Status::temp_fail;
      if (s4 == Status::temp_fail && s6 == Status::temp_fail) {
        r.error = join_errors(v4, v6);
      } else {
        r.error = s4 == Status::temp_fail ? "A: " + v4.outcome.error : "AAAA: " + v6.outcome.error;
      }
      r.cause = s4 == Status::temp_fail ? v4.outcome.cause : v6.outcome.cause;
    }
    done(std::move(r));
  }
};

MxResult to_mx(Answer answer) {
  MxResult r;
  r.status = answer.outcome.status;
  r.error = std::move(answer.outcome.error);
  r.cause = answer.outcome.cause;
  if (r.status != Status::ok) return r;
  bool null_mx = false;
  for (auto& rec : answer.records) {
    // RFC 7505 §3: "." means the domain accepts no mail; it is no host to use.
    if (rec.data == ".") {
      null_mx = true;
      continue;
    }
    r.hosts.push_back({rec.preference, std::move(rec.data)});
  }
  // Deterministic order: by preference, then name; duplicates dropped.
  std::sort(r.hosts.begin(), r.hosts.end(), [](const auto& a, const auto& b) {
    return std::tie(a.preference, a.host) < std::tie(b.preference, b.host);
  });
  r.hosts.erase(std::unique(r.hosts.begin(), r.hosts.end(),
                            [](const auto& a, const auto& b) {
                              return a.preference == b.preference && a.host == b.host;
                            }),
                r.hosts.end());
  if (r.hosts.empty() && null_mx) {
    r.status = Status::no_data;
    r.error = "null MX";
    r.cause = Cause::nodata;
  }
  return r;
}

}  // namespace

Resolver::Resolver(boost::asio::io_context& io, ResolverOptions options)
    : impl_(std::make_unique<Impl>(Impl{io, ServerSet::create(io, options), options, {}, {}})) {}

void Resolver::set_nameservers(const std::vector<std::string>& nameservers) {
  ResolverOptions options = impl_->options;
  options.nameservers = nameservers;
  auto fresh = ServerSet::create(impl_->io, options);  // throws: nothing changed
  impl_->retired.push_back(std::move(impl_->servers));
  impl_->servers = std::move(fresh);
  impl_->options = std::move(options);
  if (!impl_->retire_timer) {
    impl_->retire_timer = std::make_unique<boost::asio::steady_timer>(impl_->io);
  }
  // Every try of every server of the old set, with room to spare.
  const auto servers = std::max<std::size_t>(impl_->options.nameservers.size(), 3);
  impl_->retire_timer->expires_after(2 * impl_->options.timeout * impl_->options.tries *
                                     static_cast<int>(servers));
  impl_->retire_timer->async_wait([impl = impl_.get()](const boost::system::error_code& ec) {
    if (!ec) impl->retired.clear();
  });
}

Resolver::~Resolver() = default;

void Resolver::query_txt(const std::string& name, std::function<void(TxtResult)> done) {
  lookup(impl_->servers, name, LDNS_RR_TYPE_TXT,
         [done = impl_->counted(std::move(done))](Answer answer) {
           TxtResult r;
           r.status = answer.outcome.status;
           r.error = std::move(answer.outcome.error);
           r.cause = answer.outcome.cause;
           for (auto& rec : answer.records) r.records.push_back(std::move(rec.data));
           done(std::move(r));
         });
}

void Resolver::query_addresses(const std::string& name, std::function<void(AddressResult)> done) {
  auto join = std::make_shared<AddressJoin>();
  join->done = impl_->counted(std::move(done));
  lookup(impl_->servers, name, LDNS_RR_TYPE_A, [join](Answer answer) {
    join->v4 = std::move(answer);
    if (--join->remaining == 0) join->complete();
  });
  lookup(impl_->servers, name, LDNS_RR_TYPE_AAAA, [join](Answer answer) {
    join->v6 = std::move(answer);
    if (--join->remaining == 0) join->complete();
  });
}

void Resolver::query_mx(const std::string& name, std::function<void(MxResult)> done) {
  lookup(
      impl_->servers, name, LDNS_RR_TYPE_MX,
      [done = impl_->counted(std::move(done))](Answer answer) { done(to_mx(std::move(answer))); });
}

void Resolver::query_raw(const std::string& name, int type, std::function<void(RawResult)> done) {
  auto finish = impl_->counted(std::move(done));
  std::optional<std::vector<unsigned char>> query;
  if (type >= 0 && type <= 0xffff)
    query = build_query(name, static_cast<std::uint16_t>(type), true);
  if (!query) {
    boost::asio::post(impl_->io, [finish = std::move(finish)] {
      RawResult r;
      r.error = "invalid name or type";
      r.cause = Cause::other;
      finish(std::move(r));
    });
    return;
  }
  // AD and DO set: a DNSSEC query, whose SERVFAIL stands (see ServerSet).
  impl_->servers->send(std::move(*query), true, [finish = std::move(finish)](AresReply reply) {
    RawResult r;
    if (reply.status != ARES_SUCCESS || reply.message.empty()) {
      const Outcome o = outcome_of_ares_status(reply.status);
      r.status = o.status;
      r.error = o.error;
      r.cause = o.cause;
    } else {
      const RawVerdict v = read_raw(reply.message);
      r.status = v.outcome.status;
      r.error = v.outcome.error;
      r.cause = v.outcome.cause;
      r.authenticated = v.authenticated;
      if (r.status != Status::temp_fail) r.message = std::move(reply.message);
    }
    finish(std::move(r));
  });
}

void Resolver::query_secure(const std::string& name, int type,
                            std::function<void(SecureResult)> done) {
  auto finish = impl_->counted(std::move(done));
  if (type < 0 || type > 0xffff) {
    boost::asio::post(impl_->io, [finish = std::move(finish)] {
      SecureResult r;
      r.error = "invalid type";
      r.cause = Cause::other;
      finish(std::move(r));
    });
    return;
  }
  lookup(
      impl_->servers, name, static_cast<std::uint16_t>(type),
      [finish = std::move(finish)](Answer answer) {
        SecureResult r;
        r.status = answer.outcome.status;
        r.error = std::move(answer.outcome.error);
        r.cause = answer.outcome.cause;
        r.authenticated = answer.authenticated;
        r.ttl = answer.ttl;
        for (auto& rec : answer.records) r.records.push_back({rec.preference, std::move(rec.data)});
        finish(std::move(r));
      },
      /*dnssec=*/true);
}

std::size_t Resolver::pending() const { return *impl_->pending; }

}  // namespace mtasts::dns
