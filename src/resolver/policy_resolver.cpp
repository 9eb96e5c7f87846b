#include "resolver/policy_resolver.hpp"

#include <algorithm>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

namespace mtasts::resolver {

PolicyResolver::PolicyResolver(Timers& timers, DnsPort& dns, HttpsPort& https,
                               const util::Clock& clock, std::vector<Zone> zones,
                               ResolverSettings settings, cache::PolicyStore* store,
                               DaneResolver* dane)
    : dns_(dns),
      https_(https),
      clock_(clock),
      timers_(timers),
      zones_(std::move(zones)),
      settings_(settings),
      store_(store),
      dane_(dane != nullptr && dane->settings().enabled ? dane : nullptr),
      cache_(settings.cache_size, zones_.classes()),
      flights_(timers, FlightLimits{settings.max_concurrent, settings.max_queued}),
      stored_(store_, cache_, clock_, stats_),
      store_first_(flights_, store_, stored_, stats_),
      alive_(std::make_shared<bool>(true)),
      settlement_(cache_, store_, alarms_, settings_, stats_) {
  if (dane_ != nullptr) {
    dane_->set_alarms(&alarms_);
    dane_first_ =
        std::make_unique<DaneFirst>(*dane_, static_cast<StsLifecycle&>(*this), clock_, stats_);
  }
}

PolicyResolver::~PolicyResolver() { *alive_ = false; }

ZoneChanges PolicyResolver::reconfigure(std::vector<Zone> zones, const ResolverSettings& settings,
                                        bool rerender) {
  ZoneChanges changes = zones_.reconfigure(std::move(zones));
  if (rerender || !changes.added.empty() || !changes.retired.empty()) {
    cache_.set_answer_classes(zones_.classes());
  }
  settings_.cache_grace = settings.cache_grace;
  settings_.negative_ttl = settings.negative_ttl;
  settings_.retry_interval = settings.retry_interval;
  settings_.temp_failure_ttl = settings.temp_failure_ttl;
  settings_.fetch_timeout = settings.fetch_timeout;
  settings_.alarms = settings.alarms;
  if (settings.max_concurrent != settings_.max_concurrent ||
      settings.max_queued != settings_.max_queued) {
    settings_.max_concurrent = settings.max_concurrent;
    settings_.max_queued = settings.max_queued;
    flights_.set_limits(FlightLimits{settings.max_concurrent, settings.max_queued});
  }
  return changes;
}

void PolicyResolver::set_observer(Observer* observer) {
  observer_ = observer;
  settlement_.set_observer(observer);
  alarms_.set_observer(observer);
  if (dane_ != nullptr) dane_->set_observer(observer);
}

void PolicyResolver::reply(const std::string& domain, Answer answer, std::string_view why,
                           const AnswerCallback& done) {
  // One line per decision (log_level info); busy servers run at warn.
  if (spdlog::should_log(spdlog::level::info)) {
    spdlog::info("{}: {} ({})", domain, answer.text(), why);
  }
  done(answer.text());
}

void PolicyResolver::answer(std::size_t zone, const sts::QueryKey& query, AnswerCallback done) {
  ++stats_.queries;
  if (zone >= zones_.all().size()) zone = 0;
  if (!dane_first_) {
    return sts_answer(query.domain, zone, dane::Level::none, std::nullopt, std::move(done));
  }
  // RFC 8461 §2: DANE first.
  dane_first_->answer(query, zone, timers_.now() + zones_[zone].timeout, std::move(done));
}

Answer PolicyResolver::cached_answer(const std::string& domain, std::size_t zone) {
  const auto found =
      cache_.lookup(domain, zones_.answer_class(zone), clock_.now(), settings_.cache_grace);
  return found.kind == DomainCache::Lookup::Kind::hit ? Answer::sts(found.enforced, found.answer)
                                                      : Answer::notfound();
}

void PolicyResolver::start_if_cold(const std::string& domain, std::size_t zone) {
  if (cache_.lookup(domain, zones_.answer_class(zone), clock_.now(), settings_.cache_grace).kind ==
      DomainCache::Lookup::Kind::miss) {
    open_cold(domain);
  }
}

void PolicyResolver::sts_answer(const std::string& domain, std::size_t zone, dane::Level dane,
                                std::optional<MonoTime> deadline, AnswerCallback done) {
  const auto now = clock_.now();
  auto found = cache_.lookup(domain, zones_.answer_class(zone), now, settings_.cache_grace);
  const bool partial = dane == dane::Level::dane;
  switch (found.kind) {
    case DomainCache::Lookup::Kind::hit: {
      ++stats_.hits;
      const bool revalidate = found.revalidate;
      // Copied only when needed: the hit path allocates nothing.
      std::string known_id = revalidate ? std::string{found.known_id} : std::string{};
      // Partial DANE: only an enforced policy beats Postfix's own per-host DANE.
      reply(domain, with_dane(dane, Answer::sts(found.enforced, found.answer)),
            partial ? "cached policy; partial DANE" : "cached policy", done);
      // Stale-while-revalidate: the answer went out; the TXT id is checked behind it.
      if (revalidate && !flights_.active(domain) && flights_.slot_free()) {
        ++stats_.revalidations;
        open_refresh(domain);
        discover_network(domain, std::move(known_id));
      }
      return;
    }
    case DomainCache::Lookup::Kind::negative:
      ++stats_.negative_hits;
      return reply(domain, with_dane(dane, Answer::notfound()),
                   partial ? "cached: no usable policy; partial DANE" : "cached: no usable policy",
                   done);
    case DomainCache::Lookup::Kind::miss:
      ++stats_.misses;
      return wait_for(domain, zone, dane, deadline.value_or(timers_.now() + zones_[zone].timeout),
                      std::move(done));
  }
}

void PolicyResolver::wait_for(const std::string& domain, std::size_t zone, dane::Level dane,
                              MonoTime deadline, AnswerCallback done) {
  const bool opened = flights_.open(domain);
  // A query waits at most its zone's timeout; the discovery itself carries on and
  // its result serves the next query (decisions.md: then the answer is NOTFOUND).
  flights_.wait(
      domain, deadline,
      [this, domain, zone, dane, done = std::move(done)](const DiscoveryResult* result) {
        const auto& options = zones_[zone].answer;
        if (result == nullptr) {
          ++stats_.timeouts;
          if (const auto* failure = store_first_.unknown(domain)) {
            spdlog::warn("{}: {} (no result within {} ms, and {})", domain, kTempAnswer,
                         zones_[zone].timeout.count(), *failure);
            return done(kTempAnswer);
          }
          return reply(domain, with_dane(dane, Answer::notfound()),
                       fmt::format("no result within {} ms; discovery continues",
                                   zones_[zone].timeout.count()),
                       done);
        }
        if (result->outcome == DiscoveryResult::Outcome::policy && result->policy) {
          // Answered from the fetched policy itself, so even max_age 0 serves this query.
          const auto text = sts::render_policy_answer(*result->policy, domain, options);
          return reply(domain,
                       with_dane(dane, Answer::sts(sts_enforced(*result->policy, options), text)),
                       "fresh: " + result->reason, done);
        }
        const auto found =
            cache_.lookup(domain, zones_.answer_class(zone), clock_.now(), settings_.cache_grace);
        const Answer sts = found.kind == DomainCache::Lookup::Kind::hit
                               ? Answer::sts(found.enforced, found.answer)
                               : Answer::notfound();
        if (result->store_unknown && found.kind != DomainCache::Lookup::Kind::hit) {
          // Said once, by Settlement::store_unknown; a stored enforce policy may exist.
          return done(Answer{Answer::Kind::temp, {}}.text());
        }
        const Answer answer = with_dane(dane, sts);
        if (result->overloaded && found.kind != DomainCache::Lookup::Kind::hit) {
          spdlog::warn("{}: {} ({})", domain, answer.text(), result->reason);
          return done(answer.text());
        }
        reply(domain, answer, result->reason, done);
      });
  if (opened) return begin_cold(domain);
  store_first_.joined(domain);
}

void PolicyResolver::open_refresh(const std::string& domain) {
  flights_.open(domain);
  store_first_.begin_refresh(domain);
}

void PolicyResolver::open_cold(const std::string& domain) {
  if (flights_.open(domain)) begin_cold(domain);
}

void PolicyResolver::begin_cold(const std::string& domain) {
  store_first_.begin_cold(domain, [this, domain](std::string store_failure) {
    discover_network(domain, {}, std::move(store_failure));
  });
}

void PolicyResolver::discover_network(const std::string& domain, std::string known_id,
                                      std::string store_failure) {
  DiscoveryOptions options;
  options.fetch_timeout = settings_.fetch_timeout;
  if (observer_ != nullptr) options.clock = [this] { return timers_.now(); };
  const auto admitted = flights_.admit(
      domain, [this, alive = alive_, domain, known_id = std::move(known_id), options] {
        if (!*alive) return;
        ++stats_.discoveries;
        const bool background = !known_id.empty();
        discover(dns_, https_, domain, known_id, options,
                 [this, alive, domain, background](DiscoveryResult result) {
                   if (!*alive) return;
                   if (observer_ != nullptr) {
                     observer_->discovered({result.outcome, result.failure, background,
                                            result.dns_time, result.https_time});
                   }
                   settle(domain, std::move(result));
                 });
      });
  if (admitted != PolicyFlights::Admission::refused) return;
  // Bounded work: a flood of cold domains must not queue without limit. Not
  // remembered as "no policy": the overload is ours, not the domain's.
  ++stats_.overloaded;
  DiscoveryResult overloaded;
  overloaded.overloaded = true;
  overloaded.reason = fmt::format("overloaded: {} discoveries running, {} queued",
                                  flights_.running(), flights_.queued());
  if (!store_failure.empty()) {
    overloaded.store_unknown = true;
    overloaded.reason += "; and " + store_failure;
  }
  flights_.finish(domain, overloaded);
}

void PolicyResolver::settle(const std::string& domain, DiscoveryResult result) {
  using Outcome = DiscoveryResult::Outcome;
  const auto now = clock_.now();
  if (result.outcome == Outcome::policy) {
    settlement_.learn(domain, result, now);
    return flights_.finish(domain, result);
  }
  // Unchanged id or a failure: both are about the policy we hold.
  if (const auto* cached = cache_.policy(domain, now)) {
    settlement_.keep(domain, result, *cached, now);
    return flights_.finish(domain, result);
  }
  if (store_ == nullptr) {
    if (result.outcome != Outcome::unchanged) settlement_.remember_none(domain, result, now);
    return flights_.finish(domain, result);
  }
  // Nothing in memory, but memory is not the whole cache: a policy evicted
  // (cache_size) while this discovery ran still protects the domain until its
  // max_age (RFC 8461 §3.3, §5.1). Only the store can say "no policy".
  store_->fetch(domain, [this, alive = alive_, domain,
                         result = std::move(result)](cache::PolicyRead stored) mutable {
    if (!*alive) return;
    const auto at = clock_.now();
    if (stored_.adopt(stored, domain)) {
      settlement_.keep(domain, result, *cache_.policy(domain, at), at);
    } else if (stored.unknown()) {
      ++stats_.store_unknown;
      settlement_.store_unknown(domain, result, stored.failure);
    } else if (result.outcome != Outcome::unchanged) {
      settlement_.remember_none(domain, result, at);
    }
    flights_.finish(domain, result);
  });
}

bool PolicyResolver::purge(const std::string& domain, const std::string& dane_destination) {
  if (store_ != nullptr) store_->remove(domain);
  bool had = cache_.erase(domain);
  alarms_.clear_all(domain);
  alarms_.clear_all(dane_destination);
  if (dane_ != nullptr) had = dane_->purge(dane_destination) || had;
  spdlog::info("{}: purged from the cache by the administrator", dane_destination);
  return had;
}

bool PolicyResolver::prefetch(const std::string& domain) {
  if (cache_.policy(domain, clock_.now()) != nullptr) return false;
  if (flights_.active(domain) || flights_.saturated()) return false;
  // A background flight, store first: its result lands in the cache (and the
  // store) like any other.
  open_cold(domain);
  return true;
}

bool PolicyResolver::refresh(const std::string& domain, std::string known_id,
                             std::function<void()> finished) {
  if (flights_.active(domain) || !flights_.slot_free()) return false;
  ++stats_.proactive;
  open_refresh(domain);
  flights_.on_finish(domain, std::move(finished));
  discover_network(domain, std::move(known_id));
  return true;
}

}  // namespace mtasts::resolver
