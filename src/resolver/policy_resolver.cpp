#include "resolver/policy_resolver.hpp"

#include <algorithm>
#include <random>

#include <spdlog/spdlog.h>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>

#include "resolver/answer_table.hpp"
#include "sts/query_key.hpp"

namespace mtasts::resolver {

namespace {

// The answer once MTA-STS has spoken, with DANE partial or silent.
std::string_view with_dane(bool partial_dane, std::string_view sts_answer) {
  return select_answer(partial_dane ? DaneState::partial : DaneState::none, sts_answer,
                       DaneFailure::temp);
}

std::vector<sts::AnswerOptions> answer_classes(const std::vector<Zone>& zones,
                                               std::vector<std::size_t>& zone_class) {
  // Zones that answer alike share one pre-rendered answer per policy.
  std::vector<sts::AnswerOptions> classes;
  for (const auto& zone : zones) {
    std::size_t index = 0;
    for (; index < classes.size(); ++index) {
      const auto& c = classes[index];
      if (c.strict_testing == zone.answer.strict_testing &&
          c.require_sni == zone.answer.require_sni && c.tlsrpt == zone.answer.tlsrpt) {
        break;
      }
    }
    if (index == classes.size()) classes.push_back(zone.answer);
    zone_class.push_back(index);
  }
  return classes;
}

std::string describe_expiry(std::int64_t expires_at, std::int64_t now) {
  const auto left = expires_at - now;
  if (left >= 86400) return std::to_string(left / 86400) + "d";
  if (left >= 3600) return std::to_string(left / 3600) + "h";
  return std::to_string(left) + "s";
}

}  // namespace

struct PolicyResolver::Waiter {
  explicit Waiter(boost::asio::io_context& io, std::size_t z, bool partial,
                  socketmap::ReplyCallback d)
      : zone(z), partial_dane(partial), done(std::move(d)), timer(io) {}
  std::size_t zone;
  bool partial_dane;  // a not-enforced answer becomes "OK dane"
  socketmap::ReplyCallback done;
  boost::asio::steady_timer timer;
  bool answered = false;
};

struct PolicyResolver::Flight {
  std::string known_id;
  bool proactive = false;  // counts against proactive_.concurrency_limit
  std::vector<std::shared_ptr<Waiter>> waiters;
};

PolicyResolver::PolicyResolver(boost::asio::io_context& io, dns::Resolver& dns,
                               http::Fetcher& https, const util::Clock& clock,
                               std::vector<Zone> zones, ResolverSettings settings,
                               cache::PolicyStore* store, DaneResolver* dane)
    : io_(io),
      dns_(dns),
      https_(https),
      clock_(clock),
      zones_(zones.empty() ? std::vector<Zone>{Zone{}} : std::move(zones)),
      settings_(settings),
      store_(store),
      dane_(dane != nullptr && dane->settings().enabled ? dane : nullptr),
      cache_(settings.cache_size, answer_classes(zones_, zone_class_)),
      alive_(std::make_shared<bool>(true)) {
  for (std::size_t i = 1; i < zones_.size(); ++i) zone_by_name_.emplace(zones_[i].name, i);
}

PolicyResolver::~PolicyResolver() {
  *alive_ = false;
  if (sweep_timer_) sweep_timer_->cancel();
  if (dane_timer_) dane_timer_->cancel();
  for (auto& [domain, flight] : flights_) {
    for (auto& waiter : flight->waiters) waiter->timer.cancel();
  }
}

std::size_t PolicyResolver::load_store() {
  if (store_ == nullptr) return 0;
  const auto now = clock_.now();
  std::size_t loaded = 0;
  store_->load_all([&](cache::CachedPolicy policy) {
    if (policy.expired(now)) return;
    cache_.store_policy(std::move(policy));
    ++loaded;
  });
  return loaded;
}

std::size_t PolicyResolver::zone_index(std::string_view name) const {
  auto it = zone_by_name_.find(name);
  return it == zone_by_name_.end() ? 0 : it->second;
}

void PolicyResolver::handle(std::string_view name, std::string_view key,
                            socketmap::ReplyCallback done) {
  ++stats_.queries;
  const std::size_t zone = zone_index(name);
  auto query = sts::parse_query_key(key);
  switch (query.kind) {
    case sts::QueryKey::Kind::domain:
      break;
    case sts::QueryKey::Kind::parent_domain:
      // Postfix's parent-domain walk (".example.com"): never a parent's policy (§3.4).
      spdlog::info("{}: NOTFOUND (parent-domain key: never a parent's policy)", key);
      ++stats_.rejected_keys;
      return done(sts::kNotFound);
    case sts::QueryKey::Kind::address_literal:
      spdlog::info("{}: NOTFOUND (address literal: {})", key, query.reason);
      ++stats_.rejected_keys;
      return done(sts::kNotFound);
    case sts::QueryKey::Kind::invalid:
      spdlog::warn("'{}': NOTFOUND (invalid key: {})", key.substr(0, 300), query.reason);
      ++stats_.rejected_keys;
      return done(sts::kNotFound);
  }

  if (dane_ == nullptr) return sts_answer(query.domain, zone, false, std::nullopt, std::move(done));

  // RFC 8461 §2: DANE first. A cached DANE result decides without I/O.
  auto target = [&] { return DaneTarget{query.domain, query.bracketed, query.port.value_or(25)}; };
  // The usual key is a plain domain: its destination is the domain itself, no copy.
  const bool plain = !query.bracketed && query.port.value_or(25) == 25;
  const std::string other = plain ? std::string{} : dane_destination(target());
  const std::string_view destination = plain ? std::string_view{query.domain} : other;
  const auto deadline = std::chrono::steady_clock::now() + zones_[zone].timeout;
  const auto known = dane_->peek(destination, clock_.now());
  using Kind = DaneCache::Lookup::Kind;
  switch (known.kind) {
    case Kind::fresh:
      if (known.refresh_due) dane_->refresh(target());
      return decide(known.level, query.domain, zone, deadline, "cached", std::move(done));
    case Kind::stale:
      return decide(known.level, query.domain, zone, deadline, "stale: DANE lookups failing",
                    std::move(done));
    case Kind::failed:
      return dane_failed(query.domain, zone, deadline, "DANE lookup failed recently",
                         std::move(done));
    case Kind::expired:
    case Kind::miss:
      break;
  }
  // Cold: the MTA-STS discovery starts alongside, so a domain without DANE
  // costs no extra round trips.
  if (!query.bracketed &&
      cache_.lookup(query.domain, zone_class_[zone], clock_.now(), settings_.cache_grace).kind ==
          DomainCache::Lookup::Kind::miss) {
    ensure_flight(query.domain);
  }
  auto cold = target();  // before query.domain moves into the callback
  dane_->resolve(cold, deadline,
                 [this, alive = alive_, domain = std::move(query.domain), zone, deadline,
                  done = std::move(done)](DaneOutcome outcome) mutable {
                   if (!*alive) return;
                   if (!outcome.known) {
                     return dane_failed(domain, zone, deadline, outcome.reason, std::move(done));
                   }
                   decide(outcome.level, domain, zone, deadline, outcome.reason, std::move(done));
                 });
}

void PolicyResolver::decide(dane::Level level, const std::string& domain, std::size_t zone,
                            Deadline deadline, std::string_view why,
                            socketmap::ReplyCallback done) {
  switch (level) {
    case dane::Level::dane_only:
      // Every MX host is DANE-authenticated: no MTA-STS policy may override it.
      ++stats_.dane_only;
      if (spdlog::should_log(spdlog::level::info)) {
        spdlog::info("{}: {} (DANE {})", domain, kDaneOnlyAnswer, why);
      }
      return done(select_answer(DaneState::all, sts::kNotFound, DaneFailure::temp));
    case dane::Level::dane:
      ++stats_.dane;
      return sts_answer(domain, zone, true, deadline, std::move(done));
    case dane::Level::none:
      return sts_answer(domain, zone, false, deadline, std::move(done));
  }
}

void PolicyResolver::dane_failed(const std::string& domain, std::size_t zone, Deadline deadline,
                                 std::string_view why, socketmap::ReplyCallback done) {
  // An enforced MTA-STS policy authenticates every MX host by itself: using it
  // while DANE is unknown is never a downgrade. Otherwise dane.on_failure decides.
  const auto found = cache_.lookup(domain, zone_class_[zone], clock_.now(), settings_.cache_grace);
  const std::string_view cached =
      found.kind == DomainCache::Lookup::Kind::hit ? found.answer : sts::kNotFound;
  const auto on_failure = dane_->settings().on_failure == DaneSettings::OnFailure::sts
                              ? DaneFailure::sts
                              : DaneFailure::temp;
  const auto answer = select_answer(DaneState::failed, cached, on_failure);
  if (answer == kTempAnswer) {
    ++stats_.dane_temp;
    spdlog::warn("{}: {} ({}; dane.on_failure is temp)", domain, answer, why);
    return done(answer);
  }
  if (answer != sts::kNotFound || on_failure == DaneFailure::temp) {
    ++stats_.hits;
    spdlog::info("{}: {} (cached policy; {})", domain, answer, why);
    return done(answer);
  }
  spdlog::info("{}: {}; dane.on_failure is sts: MTA-STS decides", domain, why);
  sts_answer(domain, zone, false, deadline, std::move(done));
}

void PolicyResolver::sts_answer(const std::string& domain, std::size_t zone, bool partial_dane,
                                std::optional<Deadline> deadline, socketmap::ReplyCallback done) {
  const auto now = clock_.now();
  auto found = cache_.lookup(domain, zone_class_[zone], now, settings_.cache_grace);
  switch (found.kind) {
    case DomainCache::Lookup::Kind::hit: {
      ++stats_.hits;
      const bool revalidate = found.revalidate;
      // Copied only when needed: the hit path allocates nothing.
      std::string known_id = revalidate ? std::string{found.known_id} : std::string{};
      // Partial DANE: only an enforced policy beats Postfix's own per-host DANE.
      const std::string_view answer = with_dane(partial_dane, found.answer);
      // One line per decision (log_level info); busy servers run at warn.
      if (spdlog::should_log(spdlog::level::info)) {
        spdlog::info("{}: {} (cached policy{})", domain, answer,
                     partial_dane ? "; partial DANE" : "");
      }
      done(answer);
      if (revalidate && flights_.find(domain) == flights_.end() &&
          running_ < settings_.max_concurrent) {
        ++stats_.revalidations;
        start_flight(domain, std::move(known_id));
      }
      return;
    }
    case DomainCache::Lookup::Kind::negative:
      ++stats_.negative_hits;
      if (spdlog::should_log(spdlog::level::info)) {
        spdlog::info("{}: {} (cached: no usable policy{})", domain,
                     with_dane(partial_dane, sts::kNotFound), partial_dane ? "; partial DANE" : "");
      }
      return done(with_dane(partial_dane, sts::kNotFound));
    case DomainCache::Lookup::Kind::miss:
      ++stats_.misses;
      return wait_for(domain, zone, partial_dane,
                      deadline.value_or(std::chrono::steady_clock::now() + zones_[zone].timeout),
                      std::move(done));
  }
}

PolicyResolver::Flight* PolicyResolver::ensure_flight(const std::string& domain) {
  auto it = flights_.find(domain);
  if (it != flights_.end()) return it->second.get();
  if (running_ >= settings_.max_concurrent && queued_.size() >= settings_.max_queued) {
    // Bounded work: a flood of cold domains must not queue without limit.
    ++stats_.overloaded;
    return nullptr;
  }
  it = flights_.emplace(domain, std::make_unique<Flight>()).first;
  Flight* flight = it->second.get();
  if (store_ == nullptr) {
    schedule(domain);
    return flight;
  }
  // A memory miss asks the store first: another daemon of the fleet (Redis) may
  // have learned the policy, or memory may have dropped it (cache_size).
  store_->fetch(domain, [this, alive = alive_, domain](std::optional<cache::CachedPolicy> stored) {
    if (!*alive) return;
    if (stored && !stored->expired(clock_.now()) && stored->domain == domain) {
      ++stats_.store_hits;
      spdlog::debug("{}: policy id={} read from {}", domain, stored->txt_id, store_->describe());
      cache_.store_policy(std::move(*stored));
      auto it = flights_.find(domain);
      if (it == flights_.end()) return;
      auto flight = std::move(it->second);
      flights_.erase(it);
      DiscoveryResult from_store;
      from_store.reason = "policy from " + store_->describe();
      answer_waiters(*flight, domain, from_store);
      return;
    }
    schedule(domain);
  });
  // The store may have answered synchronously and finished the flight.
  it = flights_.find(domain);
  return it == flights_.end() ? nullptr : it->second.get();
}

void PolicyResolver::wait_for(const std::string& domain, std::size_t zone, bool partial_dane,
                              Deadline deadline, socketmap::ReplyCallback done) {
  Flight* flight = ensure_flight(domain);
  if (flight == nullptr) {
    // Overloaded, or the store answered at once: the cache says what is known.
    const auto found =
        cache_.lookup(domain, zone_class_[zone], clock_.now(), settings_.cache_grace);
    const std::string_view known =
        found.kind == DomainCache::Lookup::Kind::hit ? found.answer : sts::kNotFound;
    const auto answer = with_dane(partial_dane, known);
    if (found.kind != DomainCache::Lookup::Kind::hit) {
      spdlog::warn("{}: {} (overloaded: {} discoveries running, {} queued)", domain, answer,
                   running_, queued_.size());
    }
    return done(answer);
  }
  auto waiter = std::make_shared<Waiter>(io_, zone, partial_dane, std::move(done));
  flight->waiters.push_back(waiter);
  // A query waits at most its zone's timeout; the discovery itself carries on and
  // its result serves the next query (decisions.md: then the answer is NOTFOUND).
  waiter->timer.expires_at(deadline);
  waiter->timer.async_wait([this, alive = alive_, weak = std::weak_ptr<Waiter>(waiter),
                            domain](const boost::system::error_code& ec) {
    if (ec || !*alive) return;
    auto w = weak.lock();
    if (!w || w->answered) return;
    w->answered = true;
    ++stats_.timeouts;
    const auto answer = with_dane(w->partial_dane, sts::kNotFound);
    spdlog::info("{}: {} (no result within {} ms; discovery continues)", domain, answer,
                 zones_[w->zone].timeout.count());
    auto callback = std::move(w->done);
    callback(answer);
  });
}

void PolicyResolver::start_flight(const std::string& domain, std::string known_id) {
  auto [it, inserted] = flights_.emplace(domain, std::make_unique<Flight>());
  if (!inserted) return;
  it->second->known_id = std::move(known_id);
  schedule(domain);
}

void PolicyResolver::schedule(const std::string& domain) {
  if (running_ < settings_.max_concurrent) {
    launch(domain);
  } else {
    queued_.push_back(domain);
  }
}

void PolicyResolver::launch(const std::string& domain) {
  auto it = flights_.find(domain);
  if (it == flights_.end()) return;
  ++running_;
  ++stats_.discoveries;
  std::string known_id = std::move(it->second->known_id);
  DiscoveryOptions options;
  options.fetch_timeout = settings_.fetch_timeout;
  // Posted, so a discovery that fails synchronously still completes after the
  // caller has finished registering its waiter.
  boost::asio::post(io_, [this, alive = alive_, domain, known_id = std::move(known_id), options] {
    if (!*alive) return;
    discover(dns_, https_, domain, known_id, options,
             [this, alive, domain](DiscoveryResult result) {
               if (!*alive) return;
               finish_flight(domain, std::move(result));
             });
  });
}

void PolicyResolver::finish_flight(const std::string& domain, DiscoveryResult result) {
  if (running_ > 0) --running_;
  const auto now = clock_.now();
  apply(domain, result, now);
  auto it = flights_.find(domain);
  if (it != flights_.end()) {
    auto flight = std::move(it->second);
    flights_.erase(it);
    if (flight->proactive && proactive_running_ > 0) --proactive_running_;
    if (result.outcome == DiscoveryResult::Outcome::policy && result.policy) {
      // Answer from the fetched policy itself, so even max_age 0 serves this query.
      for (auto& waiter : flight->waiters) {
        if (waiter->answered) continue;
        waiter->answered = true;
        waiter->timer.cancel();
        auto answer =
            sts::render_policy_answer(*result.policy, domain, zones_[waiter->zone].answer);
        answer = std::string(with_dane(waiter->partial_dane, answer));
        spdlog::info("{}: {} (fresh: {})", domain, answer, result.reason);
        auto callback = std::move(waiter->done);
        callback(answer);
      }
    } else {
      answer_waiters(*flight, domain, result);
    }
  }
  launch_queued();
  pump_proactive();
}

void PolicyResolver::answer_waiters(Flight& flight, const std::string& domain,
                                    const DiscoveryResult& result) {
  const auto now = clock_.now();
  for (auto& waiter : flight.waiters) {
    if (waiter->answered) continue;
    waiter->answered = true;
    waiter->timer.cancel();
    auto found = cache_.lookup(domain, zone_class_[waiter->zone], now, settings_.cache_grace);
    std::string answer{found.kind == DomainCache::Lookup::Kind::hit ? found.answer
                                                                    : sts::kNotFound};
    answer = std::string(with_dane(waiter->partial_dane, answer));
    spdlog::info("{}: {} ({})", domain, answer, result.reason);
    auto callback = std::move(waiter->done);
    callback(answer);
  }
}

void PolicyResolver::apply(const std::string& domain, const DiscoveryResult& result,
                           std::int64_t now) {
  using Outcome = DiscoveryResult::Outcome;
  const cache::CachedPolicy* cached = cache_.policy(domain, now);
  switch (result.outcome) {
    case Outcome::policy: {
      cache::CachedPolicy policy;
      policy.domain = domain;
      policy.txt_id = result.txt_id;
      policy.body = result.body;
      policy.policy = *result.policy;
      policy.fetched_at = now;
      policy.expires_at = now + static_cast<std::int64_t>(result.policy->max_age);
      policy.checked_at = now;
      std::string mx;
      for (const auto& p : policy.policy.mx) mx += mx.empty() ? p : "," + p;
      spdlog::info("{}: learned policy id={} mode={} max_age={} mx={}", domain, policy.txt_id,
                   sts::to_string(policy.policy.mode), policy.policy.max_age, mx);
      if (store_ != nullptr) store_->save(policy);
      // §8.3: whatever was cached (even enforce) is replaced, `none` included.
      cache_.store_policy(std::move(policy));
      return;
    }
    case Outcome::unchanged:
      spdlog::debug("{}: policy id unchanged", domain);
      cache_.confirm(domain, now);
      return;
    case Outcome::no_policy:
    case Outcome::fetch_failed:
    case Outcome::temp_failure: {
      const std::uint32_t wait = result.outcome == Outcome::temp_failure
                                     ? settings_.temp_failure_ttl
                                 : result.outcome == Outcome::no_policy ? settings_.negative_ttl
                                                                        : settings_.retry_interval;
      if (cached != nullptr) {
        // §3.3 / §10.2: an unexpired cached policy keeps applying when discovery
        // fails or the TXT record disappears; try again only after the back-off.
        const auto mode = sts::to_string(cached->policy.mode);
        const auto expires = describe_expiry(cached->expires_at, now);
        const auto failures = cache_.record_failure(domain, now + settings_.retry_interval);
        if (cached->policy.mode == sts::Mode::none) {
          spdlog::info("{}: refresh failed ({}); keeping cached mode {} policy", domain,
                       result.reason, mode);
        } else {
          spdlog::warn(
              "{}: refresh failed ({}); keeping cached mode {} policy, expires in {}, "
              "{} consecutive failure(s)",
              domain, result.reason, mode, expires, failures);
        }
        return;
      }
      spdlog::info("{}: no usable MTA-STS policy ({}: {}); remembered for {}s", domain,
                   to_string(result.outcome), result.reason, wait);
      cache_.store_negative(domain, now, now + wait);
      return;
    }
  }
}

void PolicyResolver::launch_queued() {
  while (running_ < settings_.max_concurrent && !queued_.empty()) {
    std::string domain = std::move(queued_.front());
    queued_.pop_front();
    launch(domain);
  }
}

bool PolicyResolver::purge(const std::string& domain, const std::string& dane_destination) {
  if (store_ != nullptr) store_->remove(domain);
  bool had = cache_.erase(domain);
  if (dane_ != nullptr) had = dane_->purge(dane_destination) || had;
  spdlog::info("{}: purged from the cache by the administrator", dane_destination);
  return had;
}

bool PolicyResolver::prefetch(const std::string& domain) {
  if (cache_.policy(domain, clock_.now()) != nullptr) return false;
  if (flights_.find(domain) != flights_.end()) return false;
  if (running_ >= settings_.max_concurrent && queued_.size() >= settings_.max_queued) return false;
  // A background flight: its result lands in the cache (and the store) like any other.
  start_flight(domain, {});
  return true;
}

void PolicyResolver::start_proactive(ProactiveSettings settings) {
  proactive_ = settings;
  // DANE results follow DNS TTLs, not proactive_policy_fetching: always kept fresh.
  if (dane_ != nullptr && !dane_timer_) {
    dane_timer_ = std::make_unique<boost::asio::steady_timer>(io_);
    arm_dane_sweep();
  }
  if (!proactive_.enabled) return;
  if (proactive_.interval == 0) proactive_.interval = 1;
  if (proactive_.grace_ratio < 1.0) proactive_.grace_ratio = 1.0;
  if (proactive_.concurrency_limit == 0) proactive_.concurrency_limit = 1;
  sweep_timer_ = std::make_unique<boost::asio::steady_timer>(io_);
  // The first sweep comes soon after start-up (policies loaded from a store may
  // be due), spread so a fleet restarted together does not sweep in step.
  std::uniform_int_distribution<int> jitter(0, 30);
  std::random_device seed;
  arm_sweep(std::chrono::seconds(std::min<std::uint32_t>(proactive_.interval, 10) + jitter(seed)));
}

void PolicyResolver::arm_dane_sweep() {
  // DANE results live for DNS TTLs (minutes), far shorter than policies: those
  // that protect mail are looked up again before they expire.
  const auto period = std::max<std::uint32_t>(dane_->settings().min_ttl / 2, 30);
  dane_timer_->expires_after(std::chrono::seconds(period));
  dane_timer_->async_wait([this, alive = alive_, period](const boost::system::error_code& ec) {
    if (ec || !*alive) return;
    const auto started = dane_->sweep(2 * static_cast<std::int64_t>(period));
    if (started > 0) spdlog::debug("proactive refresh: {} DANE results due", started);
    arm_dane_sweep();
  });
}

void PolicyResolver::arm_sweep(std::chrono::seconds delay) {
  sweep_timer_->expires_after(delay);
  sweep_timer_->async_wait([this, alive = alive_](const boost::system::error_code& ec) {
    if (ec || !*alive) return;
    sweep();
    // Sweeps run at least hourly so a policy whose max_age is shorter than
    // `interval` is still refreshed before it expires.
    arm_sweep(std::chrono::seconds(std::min<std::uint32_t>(proactive_.interval, 3600)));
  });
}

std::size_t PolicyResolver::sweep() {
  const auto now = clock_.now();
  const auto period = static_cast<std::int64_t>(std::min<std::uint32_t>(proactive_.interval, 3600));
  const auto min_age =
      static_cast<std::int64_t>(static_cast<double>(proactive_.interval) / proactive_.grace_ratio);
  auto due = cache_.refresh_candidates(now, min_age, 2 * period);
  // Random order: no domain always waits behind the same others.
  std::shuffle(due.begin(), due.end(), std::mt19937{std::random_device{}()});
  std::size_t queued = 0;
  for (auto& candidate : due) {
    refresh_queue_.push_back(std::move(candidate));
    ++queued;
  }
  if (queued > 0) {
    spdlog::info("proactive refresh: {} cached policies due, {} in the queue", queued,
                 refresh_queue_.size());
  }
  pump_proactive();
  return queued;
}

void PolicyResolver::pump_proactive() {
  while (!refresh_queue_.empty() && proactive_running_ < proactive_.concurrency_limit &&
         running_ < settings_.max_concurrent) {
    auto candidate = std::move(refresh_queue_.front());
    refresh_queue_.pop_front();
    if (flights_.find(candidate.domain) != flights_.end()) continue;  // already being refreshed
    ++stats_.proactive;
    ++proactive_running_;
    auto [it, inserted] = flights_.emplace(candidate.domain, std::make_unique<Flight>());
    it->second->known_id = std::move(candidate.known_id);
    it->second->proactive = true;
    launch(candidate.domain);
  }
}

}  // namespace mtasts::resolver
