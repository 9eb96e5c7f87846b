// What every PolicyStore promises the resolver, checked on every backend
// (store_backends.hpp) and for both kinds of record, policies and DANE results.
// A backend's own tests (test_<backend>_*.cpp) cover only what is its own: value
// formats, files moved aside, reconnects, stalls, key expiry.
#include <doctest/doctest.h>

#include <algorithm>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "store_backends.hpp"
#include "store_records.hpp"
#include "support/log_capture.hpp"

using mtasts::cache::CachedDane;
using mtasts::cache::CachedPolicy;
using mtasts::cache::DaneRead;
using mtasts::cache::PolicyRead;
using mtasts::cache::PolicyStore;
using mtasts::dane::Level;
using namespace mtasts_test;
using namespace std::chrono_literals;

#define STORE_BACKENDS                                                                \
  SqliteBackend, RedisBackend, TieredBackend, SentinelBackend, TieredSentinelBackend, \
      PostgresBackend, TieredPostgresBackend

namespace {

// One lookup: done must run exactly once, on the loop, within the store's deadline.
template <class Read, class Backend, class Start>
Read read_once(Backend& backend, Start start) {
  struct State {
    int calls = 0;
    Read read;
  };
  auto state = std::make_shared<State>();
  start([state](Read read) {
    ++state->calls;
    state->read = std::move(read);
  });
  REQUIRE(run_until(backend.io, [&] { return state->calls > 0; }));
  backend.io.restart();
  backend.io.run_for(20ms);  // a second call would show up here
  CHECK(state->calls == 1);
  return state->read;
}

template <class Backend>
PolicyRead read_policy(Backend& backend, PolicyStore& store, const std::string& domain) {
  return read_once<PolicyRead>(backend, [&](auto done) { store.fetch(domain, std::move(done)); });
}

template <class Backend>
DaneRead read_dane(Backend& backend, PolicyStore& store, const std::string& destination) {
  return read_once<DaneRead>(backend,
                             [&](auto done) { store.fetch_dane(destination, std::move(done)); });
}

std::map<std::string, CachedPolicy> load_policies(PolicyStore& store, bool* complete = nullptr) {
  std::map<std::string, CachedPolicy> out;
  const bool all = store.load_all([&](CachedPolicy p) {
    CHECK_MESSAGE(out.count(p.domain) == 0, "handed twice: " << p.domain);
    out.emplace(p.domain, std::move(p));
  });
  if (complete != nullptr) *complete = all;
  return out;
}

std::map<std::string, CachedDane> load_dane(PolicyStore& store) {
  std::map<std::string, CachedDane> out;
  store.load_all_dane([&](CachedDane d) {
    CHECK_MESSAGE(out.count(d.destination) == 0, "handed twice: " << d.destination);
    out.emplace(d.destination, std::move(d));
  });
  return out;
}

}  // namespace

TEST_CASE_TEMPLATE("store contract: a saved record is read back whole after a restart", Backend,
                   STORE_BACKENDS) {
  INFO("backend: " << std::string(Backend::name));
  Backend backend;
  const auto p = stored_policy("kept.example");
  const auto d = stored_dane("kept.example");
  auto hop = stored_dane("[mx.kept.example]:587", Level::dane);
  hop.summary = "";  // an empty summary is still a result
  {
    auto store = backend.open();
    store->save(p);
    store->save_dane(d);
    store->save_dane(hop);
    // Before flush too: a store reads its own writes (a lookup right after a
    // discovery must not miss what it just learned).
    auto mine = read_policy(backend, *store, "kept.example");
    REQUIRE(mine.record);
    check_same(*mine.record, p);
    store->flush();
  }
  auto store = backend.open();
  auto got = read_policy(backend, *store, "kept.example");
  CHECK_FALSE(got.unknown());
  REQUIRE(got.record);
  check_same(*got.record, p);
  auto dane = read_dane(backend, *store, "kept.example");
  REQUIRE(dane.record);
  check_same(*dane.record, d);
  dane = read_dane(backend, *store, "[mx.kept.example]:587");
  REQUIRE(dane.record);
  check_same(*dane.record, hop);

  bool complete = false;
  const auto policies = load_policies(*store, &complete);
  CHECK(complete);
  REQUIRE(policies.size() == 1);  // the DANE results are not policies
  check_same(policies.at("kept.example"), p);
  const auto results = load_dane(*store);
  REQUIRE(results.size() == 2);  // nor the policy a DANE result
  check_same(results.at("kept.example"), d);
  check_same(results.at("[mx.kept.example]:587"), hop);
}

TEST_CASE_TEMPLATE("store contract: nothing stored reads as absent, never as 'cannot tell'",
                   Backend, STORE_BACKENDS) {
  INFO("backend: " << std::string(Backend::name));
  Backend backend;
  auto store = backend.open();
  store->save(stored_policy("other.example"));
  store->flush();
  const auto got = read_policy(backend, *store, "unknown.example");
  CHECK_FALSE(got.record);
  CHECK_FALSE(got.unknown());
  const auto dane = read_dane(backend, *store, "unknown.example");
  CHECK_FALSE(dane.record);
  CHECK_FALSE(dane.unknown());
  // A policy is no DANE result and a DANE result no policy.
  CHECK_FALSE(read_dane(backend, *store, "other.example").record);
  // Names no store can hold are absent, not errors.
  CHECK_FALSE(read_policy(backend, *store, "").record);
  CHECK_FALSE(read_policy(backend, *store, "").unknown());
  CHECK_FALSE(read_policy(backend, *store, std::string(300, 'a')).unknown());
  CHECK_FALSE(read_dane(backend, *store, "").unknown());
}

TEST_CASE_TEMPLATE("store contract: a later save replaces the record", Backend, STORE_BACKENDS) {
  INFO("backend: " << std::string(Backend::name));
  Backend backend;
  auto store = backend.open();
  store->save(stored_policy("change.example", 86400, "oldid"));
  store->save_dane(stored_dane("change.example", Level::dane_only));
  store->flush();
  auto newer = stored_policy("change.example", 604800, "newid");
  newer.fetched_at += 5;
  newer.checked_at = newer.fetched_at;
  newer.expires_at = newer.fetched_at + 604800;
  auto newer_dane = stored_dane("change.example", Level::none);
  newer_dane.fetched_at += 5;
  newer_dane.expires_at += 5;
  newer_dane.keep_until += 5;
  newer_dane.summary = "no TLSA records";
  store->save(newer);
  store->save_dane(newer_dane);
  store->flush();
  auto again = backend.open();
  auto got = read_policy(backend, *again, "change.example");
  REQUIRE(got.record);
  check_same(*got.record, newer);
  auto dane = read_dane(backend, *again, "change.example");
  REQUIRE(dane.record);
  check_same(*dane.record, newer_dane);
  CHECK(load_policies(*again).size() == 1);
  CHECK(load_dane(*again).size() == 1);
}

TEST_CASE_TEMPLATE(
    "store contract: remove forgets a domain's policy and DANE result; a next hop only by name",
    Backend, STORE_BACKENDS) {
  INFO("backend: " << std::string(Backend::name));
  Backend backend;
  {
    auto store = backend.open();
    store->save(stored_policy("gone.example"));
    store->save(stored_policy("kept.example"));
    store->save_dane(stored_dane("gone.example"));
    store->save_dane(stored_dane("[gone.example]:25"));
    store->save_dane(stored_dane("[hop.example]:25"));
    store->save_dane(stored_dane("kept.example"));
    store->flush();
    store->remove("gone.example");
    store->remove("[hop.example]:25");
    // Gone at once for the store that removed it...
    CHECK_FALSE(read_policy(backend, *store, "gone.example").record);
    CHECK_FALSE(read_dane(backend, *store, "gone.example").record);
    store->flush();
  }
  // ...and for good.
  auto store = backend.open();
  CHECK_FALSE(read_policy(backend, *store, "gone.example").record);
  CHECK_FALSE(read_dane(backend, *store, "gone.example").record);
  CHECK_FALSE(read_dane(backend, *store, "[hop.example]:25").record);
  CHECK(read_dane(backend, *store, "[gone.example]:25").record);  // another destination
  CHECK(read_policy(backend, *store, "kept.example").record);
  CHECK(read_dane(backend, *store, "kept.example").record);
  CHECK(load_policies(*store).size() == 1);
  CHECK(load_dane(*store).size() == 2);
}

TEST_CASE_TEMPLATE("store contract: load_all hands over every record of each kind, once", Backend,
                   STORE_BACKENDS) {
  INFO("backend: " << std::string(Backend::name));
  Backend backend;
  constexpr int kEach = 1500;  // more than one SCAN or result page
  {
    auto store = backend.open();
    for (int i = 0; i < kEach; ++i) {
      store->save(stored_policy("p" + std::to_string(i) + ".example"));
      store->save_dane(stored_dane("d" + std::to_string(i) + ".example"));
    }
    store->flush();
  }
  auto store = backend.open();
  bool complete = false;
  const auto policies = load_policies(*store, &complete);
  CHECK(complete);
  CHECK(policies.size() == kEach);
  CHECK(policies.count("p0.example") == 1);
  CHECK(policies.count("p" + std::to_string(kEach - 1) + ".example") == 1);
  const auto results = load_dane(*store);
  CHECK(results.size() == kEach);
  CHECK(results.count("d" + std::to_string(kEach - 1) + ".example") == 1);
}

TEST_CASE_TEMPLATE(
    "store contract: a record stretched past max_age, from the future or unparsable is never "
    "answered, and the log says why",
    Backend, STORE_BACKENDS) {
  INFO("backend: " << std::string(Backend::name));
  Backend backend;
  LogCapture log;
  const auto now = unix_now();
  // RFC 8461 §3.2: a policy lives at most max_age after its fetch.
  auto stretched = stored_policy("stretched.example", 1);
  stretched.expires_at = stretched.fetched_at + 10 * 365 * 86400;
  auto future = stored_policy("future.example");
  future.fetched_at = now + 86400;
  future.checked_at = future.fetched_at;
  future.expires_at = future.fetched_at + 86400;
  auto garbled = stored_policy("garbled.example");
  garbled.body = "version: STSv1\r\nmode: sometimes\r\nmax_age: 86400\r\n";
  auto future_dane = stored_dane("future-dane.example");
  future_dane.fetched_at = now + 86400;
  future_dane.expires_at = future_dane.fetched_at + 300;
  future_dane.keep_until = future_dane.expires_at + 3600;
  auto good = stored_policy("good.example");
  {
    auto store = backend.open();
    store->save(good);
    store->flush();
  }
  backend.forge(stretched);
  backend.forge(future);
  backend.forge(garbled);
  backend.forge(future_dane);

  auto store = backend.open();
  for (const char* domain : {"stretched.example", "future.example", "garbled.example"}) {
    INFO(domain);
    const auto got = read_policy(backend, *store, domain);
    CHECK_FALSE(got.record);
  }
  CHECK_FALSE(read_dane(backend, *store, "future-dane.example").record);
  const auto policies = load_policies(*store);
  CHECK(policies.size() == 1);
  CHECK(policies.count("good.example") == 1);
  CHECK(load_dane(*store).empty());
  CHECK(log.contains("stretched.example"));
  CHECK(log.contains("future.example"));
  CHECK(log.contains("garbled.example"));
  CHECK(log.contains("future-dane.example"));
  CHECK(log.contains("max_age"));
}

TEST_CASE_TEMPLATE(
    "store contract: a store that cannot read says 'cannot tell', never 'absent', and counts it",
    Backend, STORE_BACKENDS) {
  INFO("backend: " << std::string(Backend::name));
  Backend backend;
  LogCapture log;
  auto store = backend.open();
  store->save(stored_policy("known.example"));
  store->flush();
  backend.break_reads();
  // Only a store that answered may say nothing protects a domain (issue 16).
  const auto got = read_policy(backend, *store, "unknown.example");
  CHECK_FALSE(got.record);
  CHECK(got.unknown());
  const auto dane = read_dane(backend, *store, "unknown.example");
  CHECK_FALSE(dane.record);
  CHECK(dane.unknown());

  const auto errors = store->error_counts();
  REQUIRE(errors.size() == Backend::error_backends().size());
  std::uint64_t reads = 0;
  for (std::size_t i = 0; i < errors.size(); ++i) {
    CHECK(errors[i].backend == Backend::error_backends()[i]);
    reads += errors[i].reads;
  }
  CHECK(reads >= 2);
}

TEST_CASE_TEMPLATE("store contract: the store lists its unexpired policies, or says it cannot",
                   Backend, STORE_BACKENDS) {
  INFO("backend: " << std::string(Backend::name));
  Backend backend;
  const auto now = unix_now();
  auto store = backend.open();
  auto aged = [&](const std::string& domain, std::int64_t fetched, std::int64_t checked) {
    auto p = stored_policy(domain, 86400);
    p.fetched_at = fetched;
    p.checked_at = checked;
    p.expires_at = fetched + 86400;
    store->save(p);
  };
  aged("fresh.example", now - 100, now - 100);         // checked lately: not due
  aged("aged-fresh.example", now - 50000, now - 100);  // past half, but checked lately
  aged("old-check.example", now - 5000, now - 5000);   // checked long ago
  aged("aging.example", now - 50000, now - 5000);      // past half its max_age
  aged("expired.example", now - 90000, now - 90000);   // protects nothing any more
  auto testing = stored_policy("testing.example", 86400);
  testing.body = "version: STSv1\r\nmode: testing\r\nmx: mx.testing.example\r\nmax_age: 86400\r\n";
  testing.policy = *mtasts::sts::parse_policy(testing.body).policy;
  store->save(testing);
  store->save_dane(stored_dane("mx.usable.example"));
  auto gone = stored_dane("mx.gone.example");
  gone.keep_until = now - 1;  // answers nothing any more
  store->save_dane(gone);
  store->flush();

  std::vector<std::string> listed;
  int list_calls = 0;
  store->list_policies(now, 100, [&](std::vector<CachedPolicy> all) {
    ++list_calls;
    for (auto& p : all) listed.push_back(p.domain);
  });
  std::map<std::string, bool> due;
  int due_calls = 0;
  store->due_for_refresh(now, now - 1800, now + 600, 100,
                         [&](std::vector<PolicyStore::RefreshDue> all) {
                           ++due_calls;
                           for (auto& d : all) due.emplace(d.domain, d.expiring_or_aging);
                         });
  REQUIRE(run_until(backend.io, [&] { return list_calls > 0 && due_calls > 0; }));
  CHECK(list_calls == 1);
  CHECK(due_calls == 1);
  if (!Backend::lists) {
    CHECK(listed.empty());
    CHECK(due.empty());
    CHECK_FALSE(store->census(now, now + 40000));
    return;
  }
  std::sort(listed.begin(), listed.end());
  CHECK(listed == std::vector<std::string>{"aged-fresh.example", "aging.example", "fresh.example",
                                           "old-check.example", "testing.example"});
  // The census behind mtastsd_stored_policies: unexpired ones by mode, and
  // those whose max_age ends before the horizon (the two fetched 50,000 s ago).
  std::vector<std::string> listed_dane;
  int dane_calls = 0;
  store->list_dane(now, 100, [&](std::vector<CachedDane> all) {
    ++dane_calls;
    for (auto& d : all) listed_dane.push_back(d.destination);
  });
  REQUIRE(run_until(backend.io, [&] { return dane_calls > 0; }));
  CHECK(dane_calls == 1);
  const auto census = store->census(now, now + 40000);
  if (Backend::lists_dane) {
    CHECK(listed_dane == std::vector<std::string>{"mx.usable.example"});
  } else {
    CHECK(listed_dane.empty());
  }
  if (Backend::counts) {
    REQUIRE(census);
    CHECK(census->by_mode[static_cast<std::size_t>(mtasts::sts::Mode::enforce)] == 4);
    CHECK(census->by_mode[static_cast<std::size_t>(mtasts::sts::Mode::testing)] == 1);
    CHECK(census->by_mode[static_cast<std::size_t>(mtasts::sts::Mode::none)] == 0);
    CHECK(census->expiring == 2);
  } else {
    CHECK_FALSE(census);
  }
  CHECK(due.size() == 2);
  REQUIRE(due.count("old-check.example") == 1);
  CHECK_FALSE(due["old-check.example"]);  // the TXT id decides
  REQUIRE(due.count("aging.example") == 1);
  CHECK(due["aging.example"]);  // refetched whatever the id says

  // A confirmed id moves the policy on: not due again.
  store->confirm("old-check.example", "20240101T000000", now);
  store->flush();
  due.clear();
  due_calls = 0;
  store->due_for_refresh(now, now - 1800, now + 600, 100,
                         [&](std::vector<PolicyStore::RefreshDue> all) {
                           ++due_calls;
                           for (auto& d : all) due.emplace(d.domain, d.expiring_or_aging);
                         });
  REQUIRE(run_until(backend.io, [&] { return due_calls > 0; }));
  CHECK(due.count("old-check.example") == 0);
  CHECK(due.count("aging.example") == 1);
}

TEST_CASE_TEMPLATE("store contract: a record only the shared tier holds is listed where it can be",
                   Backend, STORE_BACKENDS) {
  INFO("backend: " << std::string(Backend::name));
  Backend backend;
  const auto now = unix_now();
  auto store = backend.open();
  store->save(stored_policy("ours.example"));
  store->flush();
  // Another daemon of the fleet learned this one (for SQLite alone: the file).
  backend.forge(stored_policy("theirs.example"));
  std::vector<std::string> listed;
  int calls = 0;
  store->list_policies(now, 100, [&](std::vector<CachedPolicy> all) {
    ++calls;
    for (auto& p : all) listed.push_back(p.domain);
  });
  REQUIRE(run_until(backend.io, [&] { return calls > 0; }));
  std::sort(listed.begin(), listed.end());
  if (!Backend::lists) {
    CHECK(listed.empty());
  } else if (Backend::lists_forged) {
    CHECK(listed == std::vector<std::string>{"ours.example", "theirs.example"});
  } else {
    CHECK(listed == std::vector<std::string>{"ours.example"});  // Redis cannot list
  }
}

TEST_CASE_TEMPLATE(
    "store contract: a DANE result only the shared tier holds is exported where it can be", Backend,
    STORE_BACKENDS) {
  INFO("backend: " << std::string(Backend::name));
  Backend backend;
  const auto now = unix_now();
  auto store = backend.open();
  store->save_dane(stored_dane("mx.ours.example"));
  auto older = stored_dane("mx.both.example");
  older.fetched_at = now - 600;
  older.expires_at = older.fetched_at + 300;
  older.keep_until = older.expires_at + 3600;  // stale, still answering
  older.summary = "ours, older";
  store->save_dane(older);
  store->flush();
  // Another daemon of the fleet learned these (for SQLite alone: the file).
  backend.forge(stored_dane("mx.theirs.example"));
  auto newer = stored_dane("mx.both.example");
  newer.summary = "theirs, newer";
  backend.forge(newer);
  std::map<std::string, std::string> listed;
  int calls = 0;
  store->list_dane(now, 100, [&](std::vector<CachedDane> all) {
    ++calls;
    for (auto& d : all) listed.emplace(d.destination, d.summary);
  });
  REQUIRE(run_until(backend.io, [&] { return calls > 0; }));
  CHECK(calls == 1);
  if (!Backend::lists_dane) {
    CHECK(listed.empty());  // Redis cannot list
  } else if (Backend::lists_dane_forged) {
    CHECK(listed.size() == 3);
    CHECK(listed.count("mx.ours.example") == 1);
    CHECK(listed.count("mx.theirs.example") == 1);
    CHECK(listed["mx.both.example"] == "theirs, newer");  // the newest lookup wins
  } else {
    // Redis under a local tier: what this daemon saved itself.
    CHECK(listed.size() == 2);
    CHECK(listed.count("mx.ours.example") == 1);
    CHECK(listed["mx.both.example"] == "ours, older");
  }
}
