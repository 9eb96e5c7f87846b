#include "resolver/dane_resolver.hpp"

#include <algorithm>
#include <vector>

#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>

#include "dns/ldns.hpp"

namespace mtasts::resolver {

namespace {
// Lookups that never saw the AD bit before the resolver is called inert. A few,
// because most domains are unsigned and even a validating resolver sets no AD
// for them; ten in a row without one is the sign of a resolver that never does.
constexpr std::uint64_t kInertAfter = 10;
}  // namespace

struct DaneResolver::Waiter {
  Waiter(boost::asio::io_context& io, std::function<void(DaneOutcome)> d)
      : done(std::move(d)), timer(io) {}
  std::function<void(DaneOutcome)> done;
  boost::asio::steady_timer timer;
  bool answered = false;
};

struct DaneResolver::Flight {
  std::vector<std::shared_ptr<Waiter>> waiters;
};

DaneResolver::DaneResolver(boost::asio::io_context& io, dns::Resolver& dns,
                           const util::Clock& clock, DaneSettings settings,
                           cache::PolicyStore* store)
    : io_(io),
      dns_(dns),
      clock_(clock),
      settings_(settings),
      store_(store),
      cache_(settings.cache_size),
      alive_(std::make_shared<bool>(true)) {
  if (settings_.min_ttl > settings_.max_ttl) settings_.min_ttl = settings_.max_ttl;
}

DaneResolver::~DaneResolver() {
  *alive_ = false;
  for (auto& [destination, flight] : flights_) {
    for (auto& waiter : flight->waiters) waiter->timer.cancel();
  }
}

std::size_t DaneResolver::load_store() {
  if (store_ == nullptr || !settings_.enabled) return 0;
  const auto now = clock_.now();
  std::size_t loaded = 0;
  store_->load_all_dane([&](cache::CachedDane result) {
    if (!result.usable_when_failing(now)) return;
    cache_.store(std::move(result));
    ++loaded;
  });
  return loaded;
}

void DaneResolver::probe() {
  if (!settings_.enabled) return;
  dns_.query_secure(".", LDNS_RR_TYPE_DNSKEY, [this, alive = alive_](dns::SecureResult r) {
    if (!*alive || r.status != dns::Status::ok) return;
    if (r.authenticated) {
      note_validation(true);
      return;
    }
    // The root zone is signed: a validating resolver sets AD on its DNSKEY set.
    unauthenticated_ = kInertAfter - 1;
    note_validation(false);
  });
}

std::string_view DaneResolver::status() const {
  if (!settings_.enabled) return "disabled";
  if (validating_) return "active";
  if (inert_) return "inert";
  return "unknown";
}

void DaneResolver::note_validation(bool authenticated) {
  if (authenticated) {
    if (!validating_ && inert_)
      spdlog::info("DANE: the resolver now sets the AD bit; DANE is active");
    validating_ = true;
    inert_ = false;
    return;
  }
  if (validating_ || inert_) return;
  if (++unauthenticated_ < kInertAfter) return;
  inert_ = true;
  spdlog::warn(
      "DANE is inert: the resolver never set the AD bit (DNSSEC validation) in {} lookups, so no "
      "TLSA record can be trusted and every answer falls back to MTA-STS; point "
      "resolver.nameservers at a local validating resolver such as unbound, or set "
      "dane.enabled: false",
      unauthenticated_);
}

DaneResolver::Flight& DaneResolver::join(const DaneTarget& target, const std::string& destination,
                                         bool& fresh) {
  auto it = flights_.find(destination);
  fresh = it == flights_.end();
  if (!fresh) return *it->second;
  it = flights_.emplace(destination, std::make_unique<Flight>()).first;
  if (store_ == nullptr || cache_.result(destination) != nullptr) {
    launch(target, destination);
  } else {
    // Another daemon of the fleet may know it (Redis), or memory dropped it.
    // Posted: a store may answer at once, and the caller's waiter must be in
    // the flight before anything completes it.
    boost::asio::post(io_, [this, alive = alive_, target, destination] {
      if (!*alive) return;
      store_->fetch_dane(destination, [this, alive = alive_, target,
                                       destination](std::optional<cache::CachedDane> stored) {
        if (!*alive) return;
        const auto now = clock_.now();
        if (stored && stored->destination == destination && stored->usable_when_failing(now) &&
            stored->expired(now)) {
          // Too old to answer, still good as the fallback if the lookup fails.
          cache_.store(std::move(*stored));
        } else if (stored && stored->destination == destination && !stored->expired(now)) {
          ++stats_.store_hits;
          DaneOutcome outcome{true, stored->level, false, stored->summary + " (from store)"};
          cache_.store(std::move(*stored));
          answer_flight(destination, outcome);
          return;
        }
        launch(target, destination);
      });
    });
  }
  return *it->second;
}

void DaneResolver::launch(const DaneTarget& target, const std::string& destination) {
  if (running_ >= settings_.max_concurrent && queued_.size() < settings_.max_queued) {
    queued_.push_back(target);  // a slot frees when a running lookup completes
    return;
  }
  if (running_ >= settings_.max_concurrent) {
    // Bounded work: a flood of cold destinations must not pile up lookups.
    boost::asio::post(io_, [this, alive = alive_, destination] {
      if (!*alive) return;
      DaneDiscovery overloaded;
      overloaded.overloaded = true;
      overloaded.reason =
          fmt::format("overloaded: {} DANE lookups running, {} queued", running_, queued_.size());
      complete(destination, std::move(overloaded));
    });
    return;
  }
  ++running_;
  ++stats_.lookups;
  // Posted, so a lookup that fails at once still completes after the caller
  // registered its waiter.
  boost::asio::post(io_, [this, alive = alive_, target, destination] {
    if (!*alive) return;
    discover_dane(dns_, target, [this, alive, destination](DaneDiscovery d) {
      if (!*alive) return;
      if (running_ > 0) --running_;
      note_validation(d.saw_authenticated);
      complete(destination, std::move(d));
      launch_queued();
    });
  });
}

void DaneResolver::launch_queued() {
  while (running_ < settings_.max_concurrent && !queued_.empty()) {
    auto target = std::move(queued_.front());
    queued_.pop_front();
    const auto destination = dane_destination(target);
    // Its waiters may all have timed out; the result still serves the next query.
    if (flights_.find(destination) != flights_.end()) launch(target, destination);
  }
}

DaneOutcome DaneResolver::fallback(const std::string& destination, std::string reason) {
  const auto now = clock_.now();
  const auto* cached = cache_.result(destination);
  if (cached != nullptr && cached->usable_when_failing(now)) {
    ++stats_.stale_answers;
    return {true, cached->level, true,
            fmt::format("{}; using the last DANE result: {}", reason, cached->summary)};
  }
  return {false, dane::Level::none, false, std::move(reason)};
}

void DaneResolver::complete(const std::string& destination, DaneDiscovery d) {
  const auto now = clock_.now();
  DaneOutcome outcome;
  if (d.verdict != dane::Verdict::temp) {
    cache::CachedDane result;
    result.destination = destination;
    result.level = dane::level_of(d.verdict);
    result.summary = dane::summarize(d.evidence);
    result.fetched_at = now;
    const auto ttl = std::clamp(d.ttl, settings_.min_ttl, settings_.max_ttl);
    result.expires_at = now + ttl;
    result.keep_until = result.expires_at + settings_.stale_ttl;
    spdlog::info("{}: DANE {} ({}), for {}s", destination, dane::to_string(result.level),
                 result.summary, ttl);
    outcome = {true, result.level, false, result.summary};
    if (store_ != nullptr) store_->save_dane(result);
    cache_.store(std::move(result));
  } else {
    ++stats_.failures;
    // Overload is ours, not the destination's: the next query may try at once.
    if (!d.overloaded) cache_.record_failure(destination, now + settings_.temp_failure_ttl);
    std::string reason = d.reason;
    if (!d.evidence.hosts.empty()) reason += fmt::format(" ({})", dane::summarize(d.evidence));
    spdlog::warn("{}: DANE lookup failed: {}", destination, reason);
    outcome = fallback(destination, fmt::format("DANE lookup failed: {}", reason));
  }
  answer_flight(destination, outcome);
}

// Ends the destination's flight: every waiter not yet answered by its own
// deadline gets the outcome, once.
void DaneResolver::answer_flight(const std::string& destination, const DaneOutcome& outcome) {
  auto it = flights_.find(destination);
  if (it == flights_.end()) return;
  auto flight = std::move(it->second);
  flights_.erase(it);
  for (auto& w : flight->waiters) {
    if (w->answered) continue;
    w->answered = true;
    w->timer.cancel();
    auto callback = std::move(w->done);
    callback(outcome);
  }
}

void DaneResolver::resolve(const DaneTarget& target, std::chrono::steady_clock::time_point deadline,
                           std::function<void(DaneOutcome)> done) {
  const std::string destination = dane_destination(target);
  bool fresh = false;
  auto& flight = join(target, destination, fresh);
  auto waiter = std::make_shared<Waiter>(io_, std::move(done));
  flight.waiters.push_back(waiter);
  waiter->timer.expires_at(deadline);
  waiter->timer.async_wait([this, alive = alive_, weak = std::weak_ptr<Waiter>(waiter),
                            destination](const boost::system::error_code& ec) {
    if (ec || !*alive) return;
    auto w = weak.lock();
    if (!w || w->answered) return;
    w->answered = true;
    auto callback = std::move(w->done);
    callback(fallback(destination, "no DANE result in time (lookup continues)"));
  });
}

bool DaneResolver::refresh(const DaneTarget& target) {
  const std::string destination = dane_destination(target);
  // Background work keeps half the slots free for queries that wait.
  if (flights_.find(destination) != flights_.end() ||
      running_ >= settings_.max_concurrent / 2 + 1) {
    return false;
  }
  flights_.emplace(destination, std::make_unique<Flight>());
  launch(target, destination);
  return true;
}

std::size_t DaneResolver::sweep(std::int64_t horizon) {
  if (!settings_.enabled) return 0;
  std::size_t started = 0;
  for (const auto& destination : cache_.refresh_candidates(clock_.now(), horizon)) {
    auto target = parse_dane_destination(destination);
    if (target && refresh(*target)) ++started;
  }
  return started;
}

bool DaneResolver::purge(const std::string& destination) { return cache_.erase(destination); }

}  // namespace mtasts::resolver
