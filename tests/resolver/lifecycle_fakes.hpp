#pragma once
// In-memory DNS, HTTPS, store and time for the policy lifecycle's unit tests:
// no sockets, no sleeping. Answers arrive through the fake timers (posted, or
// after a delay), so single flight, deadlines and queues behave as on the
// event loop; a name set to hang never answers until released.
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "cache/store.hpp"
#include "resolver/network.hpp"
#include "resolver/timers.hpp"
#include "sts/policy.hpp"
#include "util/clock.hpp"

namespace mtasts::resolver::testing {

// Wall clock and monotonic timers that move together.
struct FakeTime {
  util::ManualClock wall{1'700'000'000};
  ManualTimers timers;
  void advance(std::chrono::milliseconds by) {
    // The wall clock follows in whole seconds; timers fire in order.
    elapsed_ms_ += by.count();
    wall.set(1'700'000'000 + elapsed_ms_ / 1000 + wall_offset_);
    timers.advance(by);
  }
  void advance_s(std::int64_t seconds) { advance(std::chrono::milliseconds(seconds * 1000)); }
  // An NTP step: the wall clock jumps (either way), monotonic time does not.
  void step_wall(std::int64_t seconds) {
    wall_offset_ += seconds;
    wall.set(1'700'000'000 + elapsed_ms_ / 1000 + wall_offset_);
  }
  std::int64_t wall_offset() const { return wall_offset_; }
  std::int64_t elapsed_ms_ = 0;
  std::int64_t wall_offset_ = 0;
};

class FakeDns final : public DnsPort {
 public:
  explicit FakeDns(Timers& timers) : timers_(timers) {}

  // _mta-sts.DOMAIN TXT "v=STSv1; id=ID;" and mta-sts.DOMAIN's address.
  void publish(const std::string& domain, const std::string& id) {
    dns::TxtResult txt;
    txt.status = dns::Status::ok;
    txt.records = {"v=STSv1; id=" + id + ";"};
    txt_["_mta-sts." + domain] = txt;
    dns::AddressResult a;
    a.status = dns::Status::ok;
    a.addresses = {"192.0.2.1"};
    addresses_["mta-sts." + domain] = a;
  }
  void unpublish(const std::string& domain) {
    dns::TxtResult txt;
    txt.status = dns::Status::no_data;
    txt.error = "NXDOMAIN";
    txt_["_mta-sts." + domain] = txt;
  }
  // A temporary failure of the TXT lookup (SERVFAIL unless told otherwise).
  void fail(const std::string& domain, dns::Cause cause = dns::Cause::servfail) {
    dns::TxtResult txt;
    txt.status = dns::Status::temp_fail;
    txt.error = std::string(dns::to_string(cause));
    txt.cause = cause;
    txt_["_mta-sts." + domain] = txt;
  }
  // The policy host mta-sts.DOMAIN does not exist.
  void drop_policy_host(const std::string& domain) {
    dns::AddressResult a;
    a.status = dns::Status::no_data;
    a.error = "NXDOMAIN";
    a.cause = dns::Cause::nxdomain;
    addresses_["mta-sts." + domain] = a;
  }
  void hang(const std::string& name) { hanging_.insert(name); }
  void release(const std::string& name) {
    hanging_.erase(name);
    auto held = std::move(held_[name]);
    held_.erase(name);
    for (auto& fn : held) timers_.post(std::move(fn));
  }
  int asked(const std::string& name) const {
    auto it = asked_.find(name);
    return it == asked_.end() ? 0 : it->second;
  }

  void txt(const std::string& name, std::function<void(dns::TxtResult)> done) override {
    dns::TxtResult r;
    r.status = dns::Status::no_data;
    r.error = "NXDOMAIN";
    if (auto it = txt_.find(name); it != txt_.end()) r = it->second;
    deliver(name, [r, done = std::move(done)] { done(r); });
  }
  void addresses(const std::string& name, std::function<void(dns::AddressResult)> done) override {
    dns::AddressResult r;
    r.status = dns::Status::no_data;
    if (auto it = addresses_.find(name); it != addresses_.end()) r = it->second;
    deliver(name, [r, done = std::move(done)] { done(r); });
  }
  void secure(const std::string& name, int type,
              std::function<void(dns::SecureResult)> done) override {
    // Unsigned by default: an unauthenticated NXDOMAIN.
    dns::SecureResult r;
    r.status = dns::Status::no_data;
    if (auto it = secure_.find({name, type}); it != secure_.end()) r = it->second;
    deliver(name + "/" + std::to_string(type), [r, done = std::move(done)] { done(r); });
  }

  // DNSSEC-signed answers (RFC 7672): MX hosts of a domain, each with a usable
  // DANE-EE TLSA record or an authenticated denial of one.
  static constexpr int kA = 1, kMx = 15, kTlsa = 52;
  void sign_mx(const std::string& domain, const std::vector<std::string>& hosts,
               const std::vector<bool>& with_tlsa) {
    dns::SecureResult mx;
    mx.status = dns::Status::ok;
    mx.authenticated = true;
    mx.ttl = 300;
    for (std::size_t i = 0; i < hosts.size(); ++i) {
      mx.records.push_back({static_cast<std::uint16_t>(10 * (i + 1)), hosts[i]});
      dns::SecureResult a;
      a.status = dns::Status::ok;
      a.authenticated = true;
      a.ttl = 300;
      a.records.push_back({0, "192.0.2.25"});
      secure_[{hosts[i], kA}] = a;
      dns::SecureResult tlsa;
      tlsa.authenticated = true;
      tlsa.ttl = 300;
      if (with_tlsa[i]) {
        tlsa.status = dns::Status::ok;
        std::string rdata = {3, 1, 1};  // DANE-EE, SPKI, SHA-256 (RFC 7672 §3.1)
        rdata.append(32, '\x5a');
        tlsa.records.push_back({0, rdata});
      } else {
        tlsa.status = dns::Status::no_data;
      }
      secure_[{"_25._tcp." + hosts[i], kTlsa}] = tlsa;
    }
    secure_[{domain, kMx}] = mx;
  }
  // Back to unsigned (DNSSEC removed): the MX RRset and its hosts' records go.
  void unsign_mx(const std::string& domain) {
    if (auto it = secure_.find({domain, kMx}); it != secure_.end()) {
      for (const auto& mx : it->second.records) {
        secure_.erase({mx.data, kA});
        secure_.erase({"_25._tcp." + mx.data, kTlsa});
      }
      secure_.erase(it);
    }
  }
  void fail_mx(const std::string& domain) {  // SERVFAIL: bogus to a validating resolver
    dns::SecureResult mx;
    mx.status = dns::Status::temp_fail;
    mx.error = "SERVFAIL";
    mx.cause = dns::Cause::servfail;
    secure_[{domain, kMx}] = mx;
  }
  static std::string mx_query(const std::string& domain) {
    return domain + "/" + std::to_string(kMx);
  }

 private:
  void deliver(const std::string& name, std::function<void()> fn) {
    ++asked_[name];
    if (hanging_.count(name) != 0) {
      held_[name].push_back(std::move(fn));
      return;
    }
    timers_.post(std::move(fn));
  }

  Timers& timers_;
  std::map<std::string, dns::TxtResult> txt_;
  std::map<std::string, dns::AddressResult> addresses_;
  std::map<std::pair<std::string, int>, dns::SecureResult> secure_;
  std::set<std::string> hanging_;
  std::map<std::string, std::vector<std::function<void()>>> held_;
  std::map<std::string, int> asked_;
};

class FakeHttps final : public HttpsPort {
 public:
  explicit FakeHttps(Timers& timers) : timers_(timers) {}

  void serve(const std::string& domain, const std::string& body) {
    http::FetchResult r;
    r.transferred = true;
    r.status = 200;
    r.content_type = "text/plain";
    r.body = body;
    pages_["mta-sts." + domain] = r;
  }
  void refuse(const std::string& domain) {
    http::FetchResult r;
    r.error = "connect failed: Connection refused";
    r.failure = http::FetchFailure::connect;
    pages_["mta-sts." + domain] = r;
  }
  void reject_certificate(const std::string& domain) {  // e.g. expired or another name
    http::FetchResult r;
    r.error = "TLS certificate verification failed: certificate has expired";
    r.failure = http::FetchFailure::certificate;
    pages_["mta-sts." + domain] = r;
  }
  void hang(const std::string& domain) { hanging_.insert("mta-sts." + domain); }
  void unhang(const std::string& domain) { hanging_.erase("mta-sts." + domain); }
  int fetched(const std::string& domain) const {
    auto it = fetched_.find("mta-sts." + domain);
    return it == fetched_.end() ? 0 : it->second;
  }

  void fetch(http::FetchRequest request, std::function<void(http::FetchResult)> done) override {
    ++fetched_[request.host];
    if (hanging_.count(request.host) != 0) {
      // Like a server that never answers: the transfer times out.
      auto timeout = request.timeout;
      timers_.at(timers_.now() + timeout, [done = std::move(done), timeout] {
        http::FetchResult r;
        r.error = "timeout after " + std::to_string(timeout.count()) + " ms";
        r.failure = http::FetchFailure::timeout;
        done(r);
      });
      return;
    }
    http::FetchResult r;
    r.error = "connect failed: Connection refused";
    r.failure = http::FetchFailure::connect;
    if (auto it = pages_.find(request.host); it != pages_.end()) r = it->second;
    timers_.post([r, done = std::move(done)] { done(r); });
  }

 private:
  Timers& timers_;
  std::map<std::string, http::FetchResult> pages_;
  std::set<std::string> hanging_;
  std::map<std::string, int> fetched_;
};

// A store that keeps records in maps and answers on the event loop.
class FakeStore final : public cache::PolicyStore {
 public:
  explicit FakeStore(Timers& timers) : timers_(timers) {}
  std::map<std::string, cache::CachedPolicy> policies;
  std::map<std::string, cache::CachedDane> dane;
  // Every policy ever saved, per domain: what an answer may have come from.
  std::map<std::string, std::vector<cache::CachedPolicy>> history;
  int fetches = 0;
  // Unreachable (a shared store that is down, a database that cannot be read):
  // reads fail (the store cannot tell), writes are lost, unless keeps_writes
  // (SqliteStore: a write that fails is kept and retried, and read back).
  bool down = false;
  bool keeps_writes = false;

  std::string describe() const override { return "fake store"; }
  bool load_all(const std::function<void(cache::CachedPolicy)>& sink) override {
    if (down) return false;
    for (const auto& [d, p] : policies) sink(p);
    return true;
  }
  void fetch(const std::string& domain, std::function<void(cache::PolicyRead)> done) override {
    ++fetches;
    auto read = down ? cache::PolicyRead::failed("fake store: down") : cache::PolicyRead::absent();
    if (auto it = policies.find(domain); it != policies.end() && !down) read.record = it->second;
    timers_.post([read, done = std::move(done)] { done(read); });
  }
  void save(const cache::CachedPolicy& policy) override {
    history[policy.domain].push_back(policy);  // memory may answer with it all the same
    if (down && !keeps_writes) return;
    policies[policy.domain] = policy;
  }
  void remove(const std::string& domain) override {
    policies.erase(domain);
    dane.erase(domain);
  }
  void load_all_dane(const std::function<void(cache::CachedDane)>& sink) override {
    for (const auto& [d, r] : dane) sink(r);
  }
  void fetch_dane(const std::string& destination,
                  std::function<void(cache::DaneRead)> done) override {
    auto read = down ? cache::DaneRead::failed("fake store: down") : cache::DaneRead::absent();
    if (auto it = dane.find(destination); it != dane.end() && !down) read.record = it->second;
    timers_.post([read, done = std::move(done)] { done(read); });
  }
  void save_dane(const cache::CachedDane& result) override { dane[result.destination] = result; }
  // As SqliteStore's query: unexpired, and checked long ago or expiring soon.
  void due_for_refresh(std::int64_t now, std::int64_t checked_before, std::int64_t expires_before,
                       std::size_t limit,
                       std::function<void(std::vector<RefreshDue>)> done) override {
    std::vector<RefreshDue> due;
    for (const auto& [d, p] : policies) {
      if (down || due.size() >= limit || p.expires_at <= now) continue;
      const bool expiring = p.expires_at <= expires_before;
      if (!expiring && p.checked_at > checked_before) continue;
      const bool aging = now >= p.fetched_at + (p.expires_at - p.fetched_at) / 2;
      due.push_back({d, p.txt_id, expiring || aging});
    }
    timers_.post([due, done = std::move(done)] { done(due); });
  }
  void confirm(const std::string& domain, const std::string& txt_id,
               std::int64_t checked_at) override {
    if (auto it = policies.find(domain); it != policies.end() && !down) {
      if (it->second.txt_id == txt_id) {
        it->second.checked_at = std::max(it->second.checked_at, checked_at);
      }
    }
  }
  void flush() override {}

 private:
  Timers& timers_;
};

inline std::string policy_body(const std::string& mode, const std::string& mx,
                               std::uint32_t max_age = 86400) {
  return "version: STSv1\nmode: " + mode + "\nmx: " + mx + "\nmax_age: " + std::to_string(max_age) +
         "\n";
}

}  // namespace mtasts::resolver::testing
