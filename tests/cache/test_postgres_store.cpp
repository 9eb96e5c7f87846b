// PostgresStore against a real PostgreSQL server that each test starts
// (postgres_test_support.hpp): the fleet round trip, DANE results, upsert
// ordering, the refresh and list queries, the server dying and coming back,
// rows that fail the record checks, and the takeover of postfix-mta-sts-resolver's
// sts_policy_cache table. Without the server binaries every test is skipped,
// and the first one says so.
#include <doctest/doctest.h>

#include <boost/asio/io_context.hpp>
#include <chrono>
#include <map>
#include <memory>
#include <stdexcept>

#include "cache/postgres_store.hpp"
#include "postgres_test_support.hpp"
#include "store_records.hpp"
#include "support/log_capture.hpp"

using mtasts::cache::CachedDane;
using mtasts::cache::CachedPolicy;
using mtasts::cache::PostgresStore;
using namespace std::chrono_literals;

namespace {

using namespace mtasts_test;

const bool kNoServer = !postgres_available();

template <class Record>
struct ReadResult {
  std::optional<Record> record;
  std::string failure;
  int calls = 0;
  std::chrono::milliseconds took{};
};

ReadResult<CachedPolicy> fetch(boost::asio::io_context& io, PostgresStore& store,
                               const std::string& domain) {
  auto result = std::make_shared<ReadResult<CachedPolicy>>();
  const auto started = Clock::now();
  store.fetch(domain, [result](mtasts::cache::PolicyRead read) {
    ++result->calls;
    result->record = std::move(read.record);
    result->failure = std::move(read.failure);
  });
  run_until(io, [&] { return result->calls > 0; });
  result->took = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - started);
  io.restart();
  io.run_for(20ms);  // a second call would show here
  return *result;
}

ReadResult<CachedDane> fetch_dane(boost::asio::io_context& io, PostgresStore& store,
                                  const std::string& destination) {
  auto result = std::make_shared<ReadResult<CachedDane>>();
  store.fetch_dane(destination, [result](mtasts::cache::DaneRead read) {
    ++result->calls;
    result->record = std::move(read.record);
    result->failure = std::move(read.failure);
  });
  run_until(io, [&] { return result->calls > 0; });
  return *result;
}

bool ready(boost::asio::io_context& io, PostgresStore& store) {
  return run_until(io, [&] { return store.connected(); });
}

bool drained(boost::asio::io_context& io, PostgresStore& store) {
  return run_until(io, [&] { return store.connected() && store.queued_writes() == 0; });
}

std::vector<CachedPolicy> load(PostgresStore& store, bool* complete = nullptr) {
  std::vector<CachedPolicy> out;
  const bool ok = store.load_all([&](CachedPolicy p) { out.push_back(std::move(p)); });
  if (complete != nullptr) *complete = ok;
  return out;
}

}  // namespace

TEST_CASE("postgres: the server binaries are installed (else every postgres test is SKIPPED)") {
  if (kNoServer) {
    MESSAGE(
        "SKIPPED: no PostgreSQL server under /usr/lib/postgresql/*/bin; the postgres store tests "
        "did not run (scripts/install-deps.sh --test installs the postgresql package)");
  }
  CHECK(true);
}

TEST_CASE("postgres: a DSN libpq cannot parse is refused naming cache.options.dsn") {
  boost::asio::io_context io;
  std::string message;
  try {
    PostgresStore store(io, postgres_options("host=127.0.0.1 port"));
  } catch (const std::invalid_argument& e) {
    message = e.what();
  }
  CHECK(message.find("cache.options.dsn") != std::string::npos);
  try {
    PostgresStore store(io, postgres_options("postgres://u@h:notaport/db?bogus_key=1"));
    message = "(accepted)";
  } catch (const std::invalid_argument& e) {
    message = e.what();
  }
  CHECK(message.find("cache.options.dsn") != std::string::npos);
  // Both accepted forms parse, and the password is never in the description.
  PostgresStore url(io, postgres_options("postgres://user:secret@%2Frun%2Fpostgresql/user"));
  CHECK(url.describe().find("secret") == std::string::npos);
  CHECK(url.describe().find("/run/postgresql") != std::string::npos);
  PostgresStore kv(io, postgres_options("host=192.0.2.1 dbname=mail user=m password=secret"));
  CHECK(kv.describe() == "postgres://m@192.0.2.1/mail");
}

// The round trip, absent versus "cannot tell", load_all and remove are the
// store contract's (test_store_contract.cpp, PostgresBackend); here what only
// PostgreSQL has: the DSN forms, ordering between daemons, SQL queries.
TEST_CASE("postgres: the resolver's URL form (socket directory as host) reaches the same database" *
          doctest::skip(kNoServer)) {
  PostgresServer server;
  boost::asio::io_context io;
  PostgresStore a(io, postgres_options(server.dsn()));
  PostgresStore b(io, postgres_options(server.socket_url()));
  REQUIRE(ready(io, a));
  REQUIRE(ready(io, b));
  const auto p = stored_policy("example.com");
  a.save(p);
  REQUIRE(drained(io, a));
  auto got = fetch(io, b, "example.com");
  CHECK(got.failure.empty());
  REQUIRE(got.record);
  check_same(*got.record, p);
  CHECK(a.error_counts().at(0).backend == "postgres");
  CHECK(a.error_counts().at(0).reads == 0);
  CHECK(a.error_counts().at(0).writes == 0);
}

TEST_CASE("postgres: DANE results round trip, load at start, and go with remove" *
          doctest::skip(kNoServer)) {
  PostgresServer server;
  boost::asio::io_context io;
  PostgresStore store(io, postgres_options(server.dsn()));
  REQUIRE(ready(io, store));
  const auto d = stored_dane("example.net");
  const auto hop = stored_dane("[mx.example.net]:2525");
  store.save_dane(d);
  store.save_dane(hop);
  store.save(stored_policy("example.net"));
  REQUIRE(drained(io, store));
  auto got = fetch_dane(io, store, "example.net");
  REQUIRE(got.record);
  CHECK(got.record->level == d.level);
  CHECK(got.record->summary == d.summary);
  CHECK(got.record->keep_until == d.keep_until);

  // A result past its keep time (another daemon's, long ago) is dropped at start.
  auto stale = stored_dane("stale.example.net");
  stale.fetched_at -= 10000;
  stale.expires_at -= 10000;
  stale.keep_until -= 10000;
  store.save_dane(stale);
  REQUIRE(drained(io, store));
  PostgresStore other(io, postgres_options(server.dsn()));
  std::vector<CachedDane> loaded;
  other.load_all_dane([&](CachedDane x) { loaded.push_back(std::move(x)); });
  CHECK(loaded.size() == 2);
  CHECK(server.value("SELECT count(*) FROM mta_stsd_dane WHERE destination = "
                     "'stale.example.net'") == "0");

  store.remove("example.net");  // the policy and the DANE result of that name
  REQUIRE(drained(io, store));
  CHECK_FALSE(fetch_dane(io, store, "example.net").record);
  CHECK_FALSE(fetch(io, store, "example.net").record);
  CHECK(fetch_dane(io, store, "[mx.example.net]:2525").record);
  CHECK(server.value("SELECT count(*) FROM mta_stsd_dane") == "1");
}

TEST_CASE("postgres: an older record never replaces a newer one, whoever writes last" *
          doctest::skip(kNoServer)) {
  PostgresServer server;
  boost::asio::io_context io;
  PostgresStore a(io, postgres_options(server.dsn()));
  PostgresStore b(io, postgres_options(server.dsn()));
  REQUIRE(ready(io, a));
  REQUIRE(ready(io, b));
  auto newer = stored_policy("order.example");
  newer.txt_id = "new1";
  auto older = stored_policy("order.example");
  older.txt_id = "old1";
  older.fetched_at -= 100;
  older.checked_at -= 100;
  older.expires_at -= 100;
  a.save(newer);
  REQUIRE(drained(io, a));
  b.save(older);  // e.g. queued during an outage, delivered late
  REQUIRE(drained(io, b));
  auto got = fetch(io, b, "order.example");
  REQUIRE(got.record);
  CHECK(got.record->txt_id == "new1");
  // The same fetch checked later does replace it (its check time moves on).
  auto checked = newer;
  checked.checked_at += 3;
  b.save(checked);
  REQUIRE(drained(io, b));
  CHECK(server.value("SELECT checked_at FROM mta_stsd_policies") ==
        std::to_string(checked.checked_at));
  // DANE: a later lookup wins too.
  auto dane_new = stored_dane("order.example");
  auto dane_old = dane_new;
  dane_old.fetched_at -= 50;
  dane_old.summary = "old";
  a.save_dane(dane_new);
  REQUIRE(drained(io, a));
  b.save_dane(dane_old);
  REQUIRE(drained(io, b));
  CHECK(server.value("SELECT summary FROM mta_stsd_dane") == dane_new.summary);
}

TEST_CASE("postgres: due_for_refresh, confirm and list_policies answer from SQL" *
          doctest::skip(kNoServer)) {
  PostgresServer server;
  boost::asio::io_context io;
  PostgresStore store(io, postgres_options(server.dsn()));
  REQUIRE(ready(io, store));
  const auto now = unix_now();
  auto stale = stored_policy("stale.example");  // checked long ago
  stale.checked_at = now - 5000;
  stale.fetched_at = now - 6000;
  stale.expires_at = stale.fetched_at + 86400;
  auto fresh = stored_policy("fresh.example");  // checked just now
  auto aging = stored_policy("aging.example");  // past half its max_age
  aging.fetched_at = now - 50000;
  aging.checked_at = now - 5000;
  aging.expires_at = aging.fetched_at + 86400;
  auto expired = stored_policy("expired.example");
  expired.fetched_at = now - 90000;
  expired.checked_at = now - 90000;
  expired.expires_at = expired.fetched_at + 86400;
  for (const auto& p : {stale, fresh, aging, expired}) store.save(p);
  REQUIRE(drained(io, store));

  std::vector<mtasts::cache::PolicyStore::RefreshDue> due;
  bool answered = false;
  store.due_for_refresh(now, now - 1000, now + 60, 100, [&](auto rows) {
    due = std::move(rows);
    answered = true;
  });
  REQUIRE(run_until(io, [&] { return answered; }));
  REQUIRE(due.size() == 2);
  std::map<std::string, bool> by_domain;
  for (const auto& row : due) by_domain[row.domain] = row.expiring_or_aging;
  CHECK(by_domain.count("stale.example") == 1);
  CHECK_FALSE(by_domain["stale.example"]);
  CHECK(by_domain.count("aging.example") == 1);
  CHECK(by_domain["aging.example"]);

  // A refresh found the TXT id unchanged: not due any more. Another id: untouched.
  store.confirm("stale.example", stale.txt_id, now);
  store.confirm("aging.example", "otherid", now);
  REQUIRE(drained(io, store));
  answered = false;
  store.due_for_refresh(now, now - 1000, now + 60, 100, [&](auto rows) {
    due = std::move(rows);
    answered = true;
  });
  REQUIRE(run_until(io, [&] { return answered; }));
  REQUIRE(due.size() == 1);
  CHECK(due[0].domain == "aging.example");

  std::vector<CachedPolicy> listed;
  answered = false;
  store.list_policies(now, 100, [&](auto rows) {
    listed = std::move(rows);
    answered = true;
  });
  REQUIRE(run_until(io, [&] { return answered; }));
  CHECK(listed.size() == 3);  // not the expired one
  for (const auto& p : listed) CHECK(p.domain != "expired.example");
  answered = false;
  store.list_policies(now, 2, [&](auto rows) {
    listed = std::move(rows);
    answered = true;
  });
  REQUIRE(run_until(io, [&] { return answered; }));
  CHECK(listed.size() == 2);
}

TEST_CASE(
    "postgres: server killed: lookups fail (never absent), writes queue, delivered after"
    " restart" *
    doctest::skip(kNoServer)) {
  PostgresServer server;
  LogCapture log;
  boost::asio::io_context io;
  PostgresStore store(io, postgres_options(server.dsn()));
  REQUIRE(ready(io, store));
  store.save(stored_policy("before.example"));
  REQUIRE(drained(io, store));

  server.stop();
  auto during = fetch(io, store, "before.example");
  CHECK(during.calls == 1);
  CHECK_FALSE(during.record);
  CHECK_FALSE(during.failure.empty());  // "cannot tell", never "no policy"
  CHECK(during.took < 1500ms);
  REQUIRE(run_until(io, [&] { return !store.connected(); }));
  auto later = fetch(io, store, "before.example");
  CHECK_FALSE(later.failure.empty());
  CHECK(later.took < 100ms);  // not connected: at once
  const auto p = stored_policy("during.example");
  store.save(p);
  store.save_dane(stored_dane("during.example"));
  io.restart();
  io.run_for(300ms);
  CHECK(store.queued_writes() == 2);
  CHECK(store.error_counts().at(0).reads >= 2);
  CHECK(log.count("answering from memory, queueing writes") == 1);

  server.start();
  REQUIRE(drained(io, store));
  CHECK(log.count("connected again; sending") == 1);
  CHECK(server.value("SELECT txt_id FROM mta_stsd_policies WHERE domain = 'during.example'") ==
        p.txt_id);
  CHECK(server.value("SELECT count(*) FROM mta_stsd_dane") == "1");
  auto after = fetch(io, store, "during.example");
  CHECK(after.failure.empty());
  CHECK(after.record);
}

TEST_CASE("postgres: unreachable at start: load_all says so at once, lookups fail at once" *
          doctest::skip(kNoServer)) {
  LogCapture log;
  boost::asio::io_context io;
  const int port = free_port();  // nothing listens
  PostgresStore store(io, postgres_options("host=127.0.0.1 port=" + std::to_string(port) +
                                           " user=mtasts dbname=postgres"));
  const auto started = Clock::now();
  bool complete = true;
  CHECK(load(store, &complete).empty());
  CHECK_FALSE(complete);  // unknown, not "nothing"
  std::vector<CachedDane> dane;
  store.load_all_dane([&](CachedDane d) { dane.push_back(d); });
  CHECK(Clock::now() - started < 3s);
  auto got = fetch(io, store, "example.com");
  CHECK_FALSE(got.failure.empty());
  CHECK(store.error_counts().at(0).reads >= 3);
  CHECK(log.count("cannot load policies at start") == 1);
}

TEST_CASE("postgres: a server that accepts but never answers: every step is bounded" *
          doctest::skip(kNoServer)) {
  SilentListener silent;
  boost::asio::io_context io;
  auto options = postgres_options("host=127.0.0.1 port=" + std::to_string(silent.port()) +
                                  " user=mtasts dbname=postgres");
  options.connect_timeout = 300ms;
  PostgresStore store(io, options);
  const auto started = Clock::now();
  bool complete = true;
  load(store, &complete);
  CHECK_FALSE(complete);
  CHECK(Clock::now() - started < 1500ms);
  auto got = fetch(io, store, "example.com");
  CHECK_FALSE(got.failure.empty());
  CHECK(got.took < 1000ms);
  store.save(stored_policy("queued.example"));
  io.restart();
  io.run_for(800ms);  // several connect attempts time out
  CHECK_FALSE(store.connected());
  CHECK(store.queued_writes() == 1);
}

TEST_CASE("postgres: rows that fail the record checks are neither fetched nor loaded" *
          doctest::skip(kNoServer)) {
  PostgresServer server;
  LogCapture log;
  boost::asio::io_context io;
  PostgresStore store(io, postgres_options(server.dsn()));
  REQUIRE(ready(io, store));
  const auto good = stored_policy("good.example");
  store.save(good);
  REQUIRE(drained(io, store));
  const auto now = unix_now();
  const auto body = stored_policy("x.example").body;
  // From the future; stretched past max_age; a text that does not parse.
  server.exec("INSERT INTO mta_stsd_policies VALUES ('future.example', 'id1', '" + body + "', " +
              std::to_string(now + 3600) + ", " + std::to_string(now + 3600 + 86400) + ", " +
              std::to_string(now + 3600) + ")");
  server.exec("INSERT INTO mta_stsd_policies VALUES ('stretched.example', 'id1', '" + body + "', " +
              std::to_string(now - 10) + ", " + std::to_string(now + 10 * 86400) + ", " +
              std::to_string(now - 10) + ")");
  server.exec("INSERT INTO mta_stsd_policies VALUES ('garbage.example', 'id1', 'not a policy', " +
              std::to_string(now - 10) + ", " + std::to_string(now + 100) + ", " +
              std::to_string(now - 10) + ")");
  for (const char* domain : {"future.example", "stretched.example", "garbage.example"}) {
    auto got = fetch(io, store, domain);
    CHECK(got.failure.empty());  // answered: nothing usable
    CHECK_FALSE(got.record);
  }
  fetch(io, store, "garbage.example");  // read again: not logged again
  CHECK(log.count("ignoring unusable row for 'garbage.example'") == 1);
  auto loaded = load(store);
  REQUIRE(loaded.size() == 1);
  CHECK(loaded[0].domain == "good.example");
  CHECK(log.count("skipping unusable row") == 0);  // each already logged once when fetched
  CHECK(store.error_counts().at(0).reads == 0);
}

TEST_CASE("postgres: a write the server refuses is logged once and counted each time" *
          doctest::skip(kNoServer)) {
  PostgresServer server;
  LogCapture log;
  boost::asio::io_context io;
  PostgresStore store(io, postgres_options(server.dsn()));
  REQUIRE(ready(io, store));
  server.exec("ALTER TABLE mta_stsd_policies ADD CONSTRAINT short CHECK (length(domain) < 12)");
  store.save(stored_policy("long-name.example"));
  store.save(stored_policy("longer-name.example"));
  store.save(stored_policy("a.example"));
  REQUIRE(drained(io, store));
  CHECK(store.error_counts().at(0).writes == 2);
  CHECK(store.error_counts().at(0).reads == 0);
  CHECK(log.count("write refused") == 1);
  CHECK(server.value("SELECT count(*) FROM mta_stsd_policies") == "1");
}

TEST_CASE("postgres: flush at shutdown sends what is queued, within its budget" *
          doctest::skip(kNoServer)) {
  PostgresServer server;
  boost::asio::io_context io;
  PostgresStore store(io, postgres_options(server.dsn()));
  // The loop never runs: the link is not up, the writes wait.
  store.save(stored_policy("flushed.example"));
  store.save_dane(stored_dane("flushed.example"));
  CHECK(store.queued_writes() == 2);
  const auto started = Clock::now();
  store.flush();
  CHECK(Clock::now() - started < PostgresStore::kFlushBudget + 500ms);
  CHECK(store.queued_writes() == 0);
  CHECK(server.value("SELECT count(*) FROM mta_stsd_policies") == "1");
  CHECK(server.value("SELECT count(*) FROM mta_stsd_dane") == "1");
}

namespace {

// postfix-mta-sts-resolver 1.5.0's schema (postgres_cache.py), exactly.
void create_resolver_tables(const PostgresServer& server) {
  server.exec(
      "CREATE TABLE IF NOT EXISTS proactive_fetch_ts (id serial primary key, last_fetch_ts "
      "integer)");
  server.exec(
      "CREATE TABLE IF NOT EXISTS sts_policy_cache (id serial primary key, domain text, ts "
      "integer, pol_id text, pol_body jsonb)");
  server.exec("CREATE UNIQUE INDEX IF NOT EXISTS sts_policy_domain ON sts_policy_cache (domain)");
  server.exec("CREATE INDEX IF NOT EXISTS sts_policy_domain_ts ON sts_policy_cache (domain, ts)");
}

// What its `set` writes: json.dumps of the parsed policy.
void resolver_set(const PostgresServer& server, const std::string& domain, std::int64_t ts,
                  const std::string& pol_id, const std::string& pol_body) {
  server.exec("INSERT INTO sts_policy_cache (domain, ts, pol_id, pol_body) VALUES ('" + domain +
              "', " + std::to_string(ts) + ", '" + pol_id + "', '" + pol_body +
              "') ON CONFLICT (domain) DO UPDATE SET ts = EXCLUDED.ts, pol_id = EXCLUDED.pol_id, "
              "pol_body = EXCLUDED.pol_body WHERE sts_policy_cache.ts < EXCLUDED.ts");
}

const char* kResolverBody =
    R"({"version": "STSv1", "mode": "enforce", "mx": ["mx1.taken.example", "*.taken.example"], "max_age": 86400})";

}  // namespace

TEST_CASE("postgres: postfix-mta-sts-resolver's sts_policy_cache is taken over, never written" *
          doctest::skip(kNoServer)) {
  PostgresServer server;
  LogCapture log;
  create_resolver_tables(server);
  const auto now = unix_now();
  resolver_set(server, "taken.example", now - 100, "20240101", kResolverBody);
  resolver_set(
      server, "expired.example", now - 200000, "20240101",
      R"({"version": "STSv1", "mode": "enforce", "mx": ["mx.expired.example"], "max_age": 86400})");
  resolver_set(server, "unusable.example", now - 100, "20240101",
               R"({"version": "STSv1", "mode": "enforce", "mx": "not-a-list", "max_age": 86400})");
  const std::string before = server.value(
      "SELECT string_agg(domain || ts || pol_id || pol_body::text, ',' ORDER BY id) FROM "
      "sts_policy_cache");

  boost::asio::io_context io;
  {
    PostgresStore store(io, postgres_options(server.dsn()));
    bool complete = false;
    auto loaded = load(store, &complete);
    CHECK(complete);
    REQUIRE(loaded.size() == 1);
    CHECK(loaded[0].domain == "taken.example");
    CHECK(loaded[0].txt_id == "20240101");
    CHECK(loaded[0].fetched_at == now - 100);
    CHECK(loaded[0].expires_at == now - 100 + 86400);
    CHECK(loaded[0].policy.mode == mtasts::sts::Mode::enforce);
    CHECK(log.count("took over 1 policies") == 1);
    CHECK(log.count("1 expired (not revived), 1 unusable") == 1);
    CHECK(log.count("entry for 'unusable.example' not taken over") == 1);
    // Its table is exactly as it was; ours remembers each entry it saw.
    CHECK(server.value("SELECT string_agg(domain || ts || pol_id || pol_body::text, ',' ORDER "
                       "BY id) FROM sts_policy_cache") == before);
    CHECK(server.value("SELECT count(*) FROM mta_stsd_taken_over") == "3");
    REQUIRE(ready(io, store));
    auto got = fetch(io, store, "taken.example");
    REQUIRE(got.record);
    // Purged by the admin: not revived at the next start.
    store.remove("taken.example");
    REQUIRE(drained(io, store));
  }
  {
    PostgresStore again(io, postgres_options(server.dsn()));
    CHECK(load(again).empty());
    CHECK(log.count("took over") == 1);
  }
  // The Python daemon ran again after a switch back and re-learned it: a new
  // entry (new ts), taken over again.
  resolver_set(server, "taken.example", now - 50, "20240102", kResolverBody);
  PostgresStore third(io, postgres_options(server.dsn()));
  auto loaded = load(third);
  REQUIRE(loaded.size() == 1);
  CHECK(loaded[0].txt_id == "20240102");
}

TEST_CASE("postgres: a resolver entry older than the fleet's own policy does not replace it" *
          doctest::skip(kNoServer)) {
  PostgresServer server;
  create_resolver_tables(server);
  boost::asio::io_context io;
  {
    PostgresStore first(io, postgres_options(server.dsn()));
    REQUIRE(ready(io, first));
    auto ours = stored_policy("taken.example");
    ours.txt_id = "ours1";
    first.save(ours);
    REQUIRE(drained(io, first));
  }
  resolver_set(server, "taken.example", unix_now() - 1000, "theirs", kResolverBody);
  PostgresStore store(io, postgres_options(server.dsn()));
  auto loaded = load(store);
  REQUIRE(loaded.size() == 1);
  CHECK(loaded[0].txt_id == "ours1");
}

TEST_CASE("postgres: a lookup stuck behind a lock fails within 500 ms; the link is then dropped" *
          doctest::skip(kNoServer)) {
  PostgresServer server;
  LogCapture log;
  boost::asio::io_context io;
  auto options = postgres_options(server.dsn());
  options.command_timeout = 1500ms;
  PostgresStore store(io, options);
  REQUIRE(ready(io, store));
  store.save(stored_policy("locked.example"));
  REQUIRE(drained(io, store));
  // Another session holds the table: the server accepts the SELECT and does not answer.
  PGconn* holder = PQconnectdb(server.dsn().c_str());
  REQUIRE(PQstatus(holder) == CONNECTION_OK);
  PgResultPtr locked(PQexec(holder, "BEGIN; LOCK TABLE mta_stsd_policies IN ACCESS EXCLUSIVE MODE"),
                     &PQclear);
  REQUIRE(PQresultStatus(locked.get()) == PGRES_COMMAND_OK);
  auto stuck = fetch(io, store, "locked.example");
  CHECK(stuck.calls == 1);
  CHECK_FALSE(stuck.record);
  CHECK(stuck.failure.find("no reply within 500 ms") != std::string::npos);
  CHECK(stuck.took < 1000ms);
  // No reply for command_timeout: the link is dropped and made again.
  CHECK(run_until(io, [&] { return log.count("connection lost (no reply within 1500 ms)") == 1; }));
  PQfinish(holder);  // the lock goes with the session
  REQUIRE(ready(io, store));
  auto after = fetch(io, store, "locked.example");
  CHECK(after.failure.empty());
  CHECK(after.record);
  CHECK(store.error_counts().at(0).reads >= 1);
}

TEST_CASE("postgres: a role without CREATE on the schema works once the tables exist" *
          doctest::skip(kNoServer)) {
  PostgresServer server;
  boost::asio::io_context io;
  {
    PostgresStore owner(io, postgres_options(server.dsn()));  // creates the tables
    REQUIRE(ready(io, owner));
  }
  // What mta-stsd.yml(5) recommends: a role of the daemons' own, allowed the
  // tables' rows and nothing else.
  server.exec("REVOKE CREATE ON SCHEMA public FROM PUBLIC");
  server.exec("CREATE ROLE daemon LOGIN");
  server.exec(
      "GRANT SELECT, INSERT, UPDATE, DELETE ON mta_stsd_policies, mta_stsd_dane, "
      "mta_stsd_taken_over TO daemon");
  const std::string dsn =
      "host=127.0.0.1 port=" + std::to_string(server.port()) + " user=daemon dbname=postgres";
  PostgresStore store(io, postgres_options(dsn));
  bool complete = false;
  load(store, &complete);
  CHECK(complete);
  REQUIRE(ready(io, store));
  store.save(stored_policy("role.example"));
  REQUIRE(drained(io, store));
  CHECK(fetch(io, store, "role.example").record);
  CHECK(store.error_counts().at(0).writes == 0);
  CHECK(store.error_counts().at(0).reads == 0);
}
