#include "resolver/dane_first.hpp"

#include <spdlog/spdlog.h>

namespace mtasts::resolver {

void DaneFirst::answer(const sts::QueryKey& query, std::size_t zone, MonoTime deadline,
                       AnswerCallback done) {
  auto target = [&] { return DaneTarget{query.domain, query.bracketed, query.port.value_or(25)}; };
  // The usual key is a plain domain: its destination is the domain itself, no copy.
  const bool plain = !query.bracketed && query.port.value_or(25) == 25;
  const std::string other = plain ? std::string{} : dane_destination(target());
  const std::string_view destination = plain ? std::string_view{query.domain} : other;
  const auto known = dane_.peek(destination, clock_.now());
  using Kind = DaneCache::Lookup::Kind;
  switch (known.kind) {
    case Kind::fresh:
      if (known.refresh_due) dane_.refresh(target());
      return decide(known.level, query.domain, zone, deadline, "cached", std::move(done));
    case Kind::stale:
      return decide(known.level, query.domain, zone, deadline, "stale: DANE lookups failing",
                    std::move(done));
    case Kind::failed:
      return failed(query.domain, zone, deadline, "DANE lookup failed recently", std::move(done));
    case Kind::expired:
    case Kind::miss:
      break;
  }
  // Cold: the MTA-STS discovery starts alongside, so a domain without DANE
  // costs no extra round trips.
  if (!query.bracketed) sts_.start_if_cold(query.domain, zone);
  dane_.resolve(target(), deadline,
                [this, alive = alive_, domain = query.domain, zone, deadline,
                 done = std::move(done)](DaneOutcome outcome) mutable {
                  if (!*alive) return;
                  if (!outcome.known) {
                    return failed(domain, zone, deadline, outcome.reason, std::move(done));
                  }
                  decide(outcome.level, domain, zone, deadline, outcome.reason, std::move(done));
                });
}

void DaneFirst::decide(dane::Level level, const std::string& domain, std::size_t zone,
                       MonoTime deadline, std::string_view why, AnswerCallback done) {
  switch (level) {
    case dane::Level::dane_only:
      // Every MX host is DANE-authenticated: no MTA-STS policy may override it.
      ++stats_.dane_only;
      if (spdlog::should_log(spdlog::level::info)) {
        spdlog::info("{}: {} (DANE {})", domain, kDaneOnlyAnswer, why);
      }
      return done(with_dane(level, Answer::notfound()).text());
    case dane::Level::dane:
      ++stats_.dane;
      return sts_.sts_answer(domain, zone, level, deadline, std::move(done));
    case dane::Level::none:
      return sts_.sts_answer(domain, zone, level, deadline, std::move(done));
  }
}

void DaneFirst::failed(const std::string& domain, std::size_t zone, MonoTime deadline,
                       std::string_view why, AnswerCallback done) {
  // No usable DANE result. A cached enforced policy authenticates anyway, so using it
  // while DANE is unknown is never a downgrade. Otherwise dane.on_failure decides.
  const Answer answer =
      combine(std::nullopt, sts_.cached_answer(domain, zone), dane_.settings().on_failure);
  if (answer.kind == Answer::Kind::temp) {
    ++stats_.dane_temp;
    spdlog::warn("{}: {} ({}; dane.on_failure is temp)", domain, answer.text(), why);
    return done(answer.text());
  }
  if (answer.authenticates()) {
    ++stats_.hits;
    if (spdlog::should_log(spdlog::level::info)) {
      spdlog::info("{}: {} (cached policy; {})", domain, answer.text(), why);
    }
    return done(answer.text());
  }
  spdlog::info("{}: {}; dane.on_failure is sts: MTA-STS decides", domain, why);
  sts_.sts_answer(domain, zone, dane::Level::none, deadline, std::move(done));
}

}  // namespace mtasts::resolver
