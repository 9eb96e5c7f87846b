// RedisStore's DANE results (RFC 7672) against a real redis-server: the value
// format, the fleet round trip, key expiry at keep_until, removal with the
// domain's policy, the start-up load, bad values, and an outage.
#include <doctest/doctest.h>
#include <hiredis/hiredis.h>

#include <boost/asio/io_context.hpp>
#include <chrono>
#include <map>
#include <memory>
#include <stdexcept>

#include "cache/redis_store.hpp"
#include "cache/redis_value.hpp"
#include "redis_test_support.hpp"

using mtasts::cache::CachedDane;
using mtasts::cache::CachedPolicy;
using mtasts::cache::RedisStore;
using mtasts::dane::Level;
using namespace std::chrono_literals;

namespace {

using namespace mtasts_test;

struct DaneFetch {
  std::optional<CachedDane> dane;
  int calls = 0;
  std::chrono::milliseconds took{};
};

DaneFetch fetch_dane(boost::asio::io_context& io, RedisStore& store,
                     const std::string& destination) {
  auto out = std::make_shared<DaneFetch>();
  const auto started = Clock::now();
  store.fetch_dane(destination, [out](mtasts::cache::DaneRead d_read) {
    std::optional<CachedDane> d = std::move(d_read.record);
    ++out->calls;
    out->dane = std::move(d);
  });
  run_until(
      io, [&] { return out->calls > 0; }, 5000ms);
  out->took = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - started);
  io.restart();
  io.run_for(20ms);  // a second call would show up here
  return *out;
}

}  // namespace

TEST_CASE("redis DANE values: round trip, and every malformed form is rejected") {
  using mtasts::cache::decode_redis_dane_value;
  using mtasts::cache::encode_redis_dane_value;
  auto d = stored_dane("example.com", Level::dane);
  d.summary = "two\nlines";  // the summary runs to the end
  const auto value = encode_redis_dane_value(d);
  CHECK(value.rfind("v1\ndane\n", 0) == 0);
  std::string why;
  auto back = decode_redis_dane_value("example.com", value, why);
  REQUIRE(back);
  check_same(*back, d);
  for (Level level : {Level::none, Level::dane, Level::dane_only}) {
    d.level = level;
    back = decode_redis_dane_value("example.com", encode_redis_dane_value(d), why);
    REQUIRE(back);
    CHECK(back->level == level);
  }

  auto bad = [&](const std::string& v, const std::string& destination = "example.com") {
    std::string reason;
    const bool rejected = !decode_redis_dane_value(destination, v, reason);
    CHECK_MESSAGE(rejected, v);
    CHECK(!reason.empty());
  };
  bad("");
  bad("v2\ndane\n1\n2\n3\n");
  bad("v1\ndane\n1\n2\n3");                       // truncated header
  bad("v1\nDANE\n1\n2\n3\n");                     // levels are exact
  bad("v1\ndane-only \n1\n2\n3\n");               // trailing blank
  bad("v1\n\n1\n2\n3\n");                         // no level
  bad("v1\ndane\nx\n2\n3\n");                     // bad number
  bad("v1\ndane\n-1\n2\n3\n");                    // negative time
  bad("v1\ndane\n5\n2\n3\n");                     // expires before fetched
  bad("v1\ndane\n1\n3\n2\n");                     // kept less long than fresh
  bad("v1\ndane\n1\n2\n99999999999999999999\n");  // overflow
  bad("v1\ndane\n1\n2\n3\n", "");                 // no destination
  bad("v1\ndane\n1\n2\n3\n" + std::string(mtasts::cache::kMaxRedisValue, 'x'));
  CHECK(decode_redis_dane_value("example.com", "v1\nnone\n1\n2\n2\n", why));
  // A policy value is not a DANE value.
  CHECK_FALSE(decode_redis_dane_value(
      "example.com", *mtasts::cache::encode_redis_value(stored_policy("example.com")), why));
}

TEST_CASE("a DANE result's key expires at keep_until, apart from the policy's") {
  RedisServer server;
  boost::asio::io_context io;
  RedisStore writer(io, options(server.url()));
  REQUIRE(run_until(io, [&] { return writer.connected(); }));

  const auto d = stored_dane("fleet.example");
  writer.save_dane(d);
  writer.save(stored_policy("fleet.example"));
  REQUIRE(run_until(io, [&] { return writer.queued_writes() == 0; }));
  RawClient raw(server.raw());
  CHECK(raw.cmd("EXPIRETIME test:dane:fleet.example")->integer == d.keep_until);
  CHECK(raw.cmd("EXISTS test:policy:fleet.example")->integer == 1);  // next to it, apart

  // Past keep_until there is nothing to keep: saving deletes the older copy.
  auto dead = d;
  dead.keep_until = unix_now() - 1;
  dead.expires_at = dead.keep_until - 10;
  dead.fetched_at = dead.expires_at - 10;
  writer.save_dane(dead);
  REQUIRE(run_until(io, [&] { return writer.queued_writes() == 0; }));
  CHECK(raw.cmd("EXISTS test:dane:fleet.example")->integer == 0);
}

TEST_CASE("load_all_dane skips (and logs) values that are no DANE result, and policy keys") {
  RedisServer server;
  {
    boost::asio::io_context io;
    RedisStore store(io, options(server.url()));
    REQUIRE(run_until(io, [&] { return store.connected(); }));
    for (int i = 0; i < 15; ++i) store.save_dane(stored_dane("d" + std::to_string(i) + ".example"));
    for (int i = 0; i < 20; ++i) store.save(stored_policy("p" + std::to_string(i) + ".example"));
    REQUIRE(run_until(
        io, [&] { return store.queued_writes() == 0; }, 20000ms));
  }
  RawClient raw(server.raw());
  raw.cmd("SET test:dane:garbage.example %s", "not a result");
  raw.cmd("SET test:dane:level.example %s", "v1\ndane-ish\n1\n2\n3\nsummary");
  raw.cmd("HSET test:dane:hash.example f v");  // wrong type: MGET gives nil

  LogCapture log;
  boost::asio::io_context io;
  RedisStore store(io, options(server.url()));
  std::map<std::string, CachedDane> loaded;
  store.load_all_dane([&](CachedDane d) { loaded.emplace(d.destination, std::move(d)); });
  CHECK(loaded.size() == 15);
  REQUIRE(loaded.count("d14.example") == 1);
  CHECK(loaded.at("d14.example").level == Level::dane_only);
  CHECK(log.count("skipping unusable DANE value for 'garbage.example'") == 1);
  CHECK(log.count("skipping unusable DANE value for 'level.example': unknown DANE level") == 1);
  CHECK(log.count("loaded 15 DANE results") == 1);
  // The policy load does not see the DANE keys, nor the other way round.
  std::size_t policies = 0;
  store.load_all([&](CachedPolicy) { ++policies; });
  CHECK(policies == 20);
  CHECK(log.count("skipping unusable value") == 0);
}

TEST_CASE("an unusable stored DANE value is a miss, logged") {
  RedisServer server;
  RawClient raw(server.raw());
  raw.cmd("SET test:dane:bad.example %s", "v1\ndane\n10\n5\n20\n");
  LogCapture log;
  boost::asio::io_context io;
  RedisStore store(io, options(server.url()));
  REQUIRE(run_until(io, [&] { return store.connected(); }));
  const auto got = fetch_dane(io, store, "bad.example");
  CHECK(got.calls == 1);
  CHECK_FALSE(got.dane);
  CHECK(log.count(
            "ignoring unusable DANE value for 'bad.example': expires before it was looked up") ==
        1);
}

TEST_CASE("Redis killed: DANE lookups miss quickly, DANE writes queue and land after reconnect") {
  auto server = std::make_unique<RedisServer>();
  LogCapture log;
  boost::asio::io_context io;
  RedisStore store(io, options(server->url()));
  REQUIRE(run_until(io, [&] { return store.connected(); }));
  store.save_dane(stored_dane("before.example"));
  REQUIRE(run_until(io, [&] { return store.queued_writes() == 0; }));

  server->kill();
  auto got = fetch_dane(io, store, "before.example");
  CHECK(got.calls == 1);
  CHECK_FALSE(got.dane);
  CHECK(got.took < 700ms);
  REQUIRE(run_until(io, [&] { return !store.connected(); }));
  store.save_dane(stored_dane("during.example"));
  store.remove("before.example");
  CHECK(store.queued_writes() == 2);
  got = fetch_dane(io, store, "during.example");
  CHECK_FALSE(got.dane);
  CHECK(got.took < 100ms);  // disconnected: answered at once
  io.restart();
  io.run_for(300ms);
  CHECK(log.count("connection lost") == 1);

  server->start();
  REQUIRE(run_until(io, [&] { return store.connected() && store.queued_writes() == 0; }));
  CHECK(fetch_dane(io, store, "during.example").dane);
  RawClient raw(server->raw());
  CHECK(raw.cmd("EXISTS test:dane:before.example")->integer == 0);
}

TEST_CASE("a stalled Redis: a DANE lookup gives up within the lookup deadline") {
  RedisServer server;
  boost::asio::io_context io;
  auto o = options(server.url());
  o.command_timeout = 800ms;
  RedisStore store(io, o);
  REQUIRE(run_until(io, [&] { return store.connected(); }));
  server.pause();
  const auto got = fetch_dane(io, store, "s.example");
  CHECK(got.calls == 1);
  CHECK_FALSE(got.dane);
  CHECK(got.took >= 450ms);
  CHECK(got.took < 700ms);  // min(command_timeout, 500 ms)
  server.resume();
}

TEST_CASE("destroying the store with a DANE lookup pending: done runs once, later") {
  RedisServer server;
  boost::asio::io_context io;
  int calls = 0;
  bool found = true;
  {
    RedisStore store(io, options(server.url()));
    REQUIRE(run_until(io, [&] { return store.connected(); }));
    server.pause();
    store.fetch_dane("p.example", [&](mtasts::cache::DaneRead d_read) {
      std::optional<CachedDane> d = std::move(d_read.record);
      ++calls;
      found = d.has_value();
    });
    io.restart();
    io.run_for(20ms);
  }
  CHECK(calls == 0);  // never from inside the destructor
  io.restart();
  io.run_for(50ms);
  CHECK(calls == 1);
  CHECK_FALSE(found);
  server.resume();
}

TEST_CASE("unreachable at start: the DANE load right after the policy load does not wait again") {
  const int port = free_port();  // nothing listens there
  LogCapture log;
  boost::asio::io_context io;
  RedisStore store(io, options("redis://127.0.0.1:" + std::to_string(port)));
  int loaded = 0;
  store.load_all([&](CachedPolicy) { ++loaded; });
  store.load_all_dane([&](CachedDane) { ++loaded; });
  CHECK(loaded == 0);
  CHECK(log.count("cannot load policies at start") == 1);
  CHECK(log.count("not loading DANE results at start: unreachable moments ago") == 1);
  const auto got = fetch_dane(io, store, "x.example");
  CHECK(got.calls == 1);
  CHECK_FALSE(got.dane);
}

TEST_CASE("flush sends queued DANE writes over a short blocking connection") {
  RedisServer server;
  boost::asio::io_context io;
  RedisStore store(io, options(server.url()));  // never run: never connected
  // One result: made twice, a second boundary between would move its times.
  const auto late = stored_dane("late.example");
  store.save_dane(late);
  store.remove("gone.example");
  store.flush();
  CHECK(store.queued_writes() == 0);
  RawClient raw(server.raw());
  CHECK(raw.cmd("EXISTS test:dane:late.example")->integer == 1);
  CHECK(raw.cmd("EXPIRETIME test:dane:late.example")->integer == late.keep_until);
}

TEST_CASE("key prefixes that would mix policy and DANE keys are refused") {
  boost::asio::io_context io;
  auto o = options("redis://127.0.0.1:1");
  o.dane_key_prefix = "test:policy:dane:";  // a policy SCAN would return these keys
  CHECK_THROWS_AS(RedisStore(io, o), std::invalid_argument);
  o.dane_key_prefix = "test:";
  CHECK_THROWS_AS(RedisStore(io, o), std::invalid_argument);
  o.dane_key_prefix = "";
  CHECK_THROWS_AS(RedisStore(io, o), std::invalid_argument);
  o.dane_key_prefix = "test:dane:";
  CHECK_NOTHROW(RedisStore(io, o));
}
