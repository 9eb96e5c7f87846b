#include "resolver/dane_resolver.hpp"

#include <algorithm>
#include <vector>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "dns/ldns.hpp"

namespace mtasts::resolver {

DaneResolver::DaneResolver(Timers& timers, DnsPort& dns, const util::Clock& clock,
                           DaneSettings settings, cache::PolicyStore* store)
    : dns_(dns),
      clock_(clock),
      settings_(settings),
      store_(store),
      cache_(settings.cache_size),
      flights_(timers, FlightLimits{settings.max_concurrent, settings.max_queued}),
      timers_(timers),
      alive_(std::make_shared<bool>(true)) {
  if (settings_.min_ttl > settings_.max_ttl) settings_.min_ttl = settings_.max_ttl;
}

DaneResolver::~DaneResolver() { *alive_ = false; }

void DaneResolver::reconfigure(const DaneSettings& settings) {
  settings_.on_failure = settings.on_failure;
  settings_.min_ttl = std::min(settings.min_ttl, settings.max_ttl);
  settings_.max_ttl = settings.max_ttl;
  settings_.stale_ttl = settings.stale_ttl;
  settings_.temp_failure_ttl = settings.temp_failure_ttl;
  if (settings.max_concurrent != settings_.max_concurrent ||
      settings.max_queued != settings_.max_queued) {
    settings_.max_concurrent = settings.max_concurrent;
    settings_.max_queued = settings.max_queued;
    flights_.set_limits(FlightLimits{settings.max_concurrent, settings.max_queued});
  }
}

void DaneResolver::stored_results(std::size_t limit,
                                  std::function<void(std::vector<cache::CachedDane>)> done) {
  if (store_ == nullptr) return done({});
  store_->list_dane(clock_.now(), limit,
                    [alive = alive_, done = std::move(done)](std::vector<cache::CachedDane> all) {
                      if (!*alive) return done({});
                      done(std::move(all));
                    });
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
  dns_.secure(".", LDNS_RR_TYPE_DNSKEY, [this, alive = alive_](dns::SecureResult r) {
    if (!*alive || r.status != dns::Status::ok) return;
    validation_.root_dnskey(r.authenticated);
  });
}

std::string_view DaneResolver::status() const {
  return settings_.enabled ? validation_.status() : "disabled";
}

void DaneResolver::begin(const DaneTarget& target, const std::string& destination) {
  if (store_ == nullptr || cache_.result(destination) != nullptr)
    return lookup(target, destination);
  // Another daemon of the fleet may know it (Redis), or memory dropped it.
  // A store that cannot answer changes nothing here: the lookup decides, and a
  // failed one answers TEMP (or the stale result) anyway.
  store_->fetch_dane(
      destination, [this, alive = alive_, target, destination](cache::DaneRead read) {
        if (!*alive) return;
        auto& stored = read.record;
        const auto now = clock_.now();
        if (stored && stored->destination == destination && stored->usable_when_failing(now) &&
            stored->expired(now)) {
          // Too old to answer, still good as the fallback if the lookup fails.
          cache_.store(std::move(*stored));
        } else if (stored && stored->destination == destination && !stored->expired(now)) {
          ++stats_.store_hits;
          DaneOutcome outcome{true, stored->level, false, stored->summary + " (from store)"};
          cache_.store(std::move(*stored));
          return flights_.finish(destination, outcome);
        }
        lookup(target, destination);
      });
}

void DaneResolver::lookup(const DaneTarget& target, const std::string& destination) {
  const auto admitted = flights_.admit(destination, [this, alive = alive_, target, destination] {
    if (!*alive) return;
    ++stats_.lookups;
    const auto started = timers_.now();
    discover_dane(dns_, target, [this, alive, destination, started](DaneDiscovery d) {
      if (!*alive) return;
      validation_.lookup(d.saw_authenticated);
      if (observer_ != nullptr) {
        observer_->dane_looked_up(
            {d.verdict, d.verdict == dane::Verdict::temp && d.servfail, timers_.now() - started});
      }
      complete(destination, std::move(d));
    });
  });
  if (admitted != SingleFlight<DaneOutcome>::Admission::refused) return;
  // Bounded work: a flood of cold destinations must not pile up lookups.
  DaneDiscovery overloaded;
  overloaded.overloaded = true;
  overloaded.reason = fmt::format("overloaded: {} DANE lookups running, {} queued",
                                  flights_.running(), flights_.queued());
  complete(destination, std::move(overloaded));
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
    note_change(destination, result, now);
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
  flights_.finish(destination, outcome);
}

void DaneResolver::note_change(const std::string& destination, const cache::CachedDane& result,
                               std::int64_t now) {
  if (alarms_ == nullptr) return;
  if (result.level != dane::Level::none)
    return alarms_->clear(destination, AlarmKind::dane_insecure);
  const auto* before = cache_.result(destination);
  if (before == nullptr || before->level == dane::Level::none) return;
  // A destination DANE protected now has no usable secure TLSA: an attacker
  // who strips DNSSEC or the TLSA records would look exactly like this.
  alarms_->raise({destination, AlarmKind::dane_insecure,
                  std::string(dane::to_string(before->level)),
                  std::string(dane::to_string(result.level)), result.summary, now, 0});
}

void DaneResolver::resolve(const DaneTarget& target, MonoTime deadline,
                           std::function<void(DaneOutcome)> done) {
  const std::string destination = dane_destination(target);
  const bool opened = flights_.open(destination);
  flights_.wait(destination, deadline,
                [this, destination, done = std::move(done)](const DaneOutcome* outcome) {
                  if (outcome != nullptr) return done(*outcome);
                  done(fallback(destination, "no DANE result in time (lookup continues)"));
                });
  // Begun after the waiter is in: a store that answers at once ends the flight.
  if (opened) begin(target, destination);
}

bool DaneResolver::refresh(const DaneTarget& target) {
  const std::string destination = dane_destination(target);
  // Background work keeps half the slots free for queries that wait.
  if (flights_.active(destination) || flights_.running() >= settings_.max_concurrent / 2 + 1) {
    return false;
  }
  flights_.open(destination);
  lookup(target, destination);
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
