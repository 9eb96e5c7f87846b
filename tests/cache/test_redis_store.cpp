// RedisStore against a real redis-server that each test starts on a free
// loopback port (redis_test_support.hpp): the fleet round trip, key
// expiry, start-up load, bad values, and Redis dying, stalling and coming back.
// Also the URL parser and the value format, which need no server.
#include <doctest/doctest.h>
#include <hiredis/hiredis.h>

#include <boost/asio/io_context.hpp>
#include <chrono>
#include <map>
#include <memory>
#include <stdexcept>

#include "cache/redis_store.hpp"
#include "cache/redis_url.hpp"
#include "cache/redis_value.hpp"
#include "redis_test_support.hpp"

using mtasts::cache::CachedPolicy;
using mtasts::cache::RedisOptions;
using mtasts::cache::RedisStore;
using namespace std::chrono_literals;

namespace {

using namespace mtasts_test;

// Runs one fetch to completion: the result, how often done ran, and how long it took.
struct FetchResult {
  std::optional<CachedPolicy> policy;
  std::string failure;  // the store could not answer (issue 16: not "no policy")
  int calls = 0;
  std::chrono::milliseconds took{};
};

FetchResult fetch(boost::asio::io_context& io, RedisStore& store, const std::string& domain) {
  auto result = std::make_shared<FetchResult>();
  const auto started = Clock::now();
  store.fetch(domain, [result](mtasts::cache::PolicyRead read) {
    ++result->calls;
    result->policy = std::move(read.record);
    result->failure = std::move(read.failure);
  });
  run_until(
      io, [&] { return result->calls > 0; }, 5000ms);
  result->took = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - started);
  // A second call would show up here.
  io.restart();
  io.run_for(20ms);
  return *result;
}

}  // namespace

// ---- the URL ---------------------------------------------------------------------

TEST_CASE("redis URLs: the forms redis-py accepts for plain connections") {
  using mtasts::cache::parse_redis_url;
  auto e = parse_redis_url("redis://localhost");
  CHECK_FALSE(e.unix_socket);
  CHECK(e.host == "localhost");
  CHECK(e.port == 6379);
  CHECK(e.db == 0);
  CHECK_FALSE(e.has_password);

  e = parse_redis_url("REDIS://user:p%40ss:w@10.0.0.5:6380/3");
  CHECK(e.user == "user");
  CHECK(e.password == "p@ss:w");
  CHECK(e.host == "10.0.0.5");
  CHECK(e.port == 6380);
  CHECK(e.db == 3);
  CHECK(e.describe() == "redis://user@10.0.0.5:6380/3");  // never the password

  e = parse_redis_url("redis://:secret@[::1]:7000?db=4");
  CHECK(e.user.empty());
  CHECK(e.password == "secret");
  CHECK(e.host == "::1");
  CHECK(e.port == 7000);
  CHECK(e.db == 4);
  CHECK(e.describe() == "redis://[::1]:7000/4");

  CHECK(parse_redis_url("redis://h/5?db=6").db == 5);  // the path wins, as in redis-py
  CHECK(parse_redis_url("redis://h/").db == 0);
  CHECK(parse_redis_url("redis://").host == "localhost");

  e = parse_redis_url("unix:///run/redis/redis.sock?db=2");
  CHECK(e.unix_socket);
  CHECK(e.path == "/run/redis/redis.sock");
  CHECK(e.db == 2);
  CHECK(e.describe() == "unix:///run/redis/redis.sock?db=2");
  e = parse_redis_url("unix://:pw@/tmp/r.sock?password=other");
  CHECK(e.password == "other");
  CHECK(parse_redis_url("unix:///tmp/r%20x.sock").path == "/tmp/r x.sock");
}

TEST_CASE("redis URLs: bad ones are refused with the reason, never echoing a password") {
  using mtasts::cache::parse_redis_url;
  auto message = [](const std::string& url) {
    try {
      parse_redis_url(url);
    } catch (const std::invalid_argument& e) {
      return std::string(e.what());
    }
    return std::string("(accepted)");
  };
  CHECK(message("").find("empty") != std::string::npos);
  CHECK(message("http://h").find("unknown scheme") != std::string::npos);
  CHECK(message("rediss://h").find("TLS") != std::string::npos);
  CHECK(message("redis://h:0").find("port") != std::string::npos);
  CHECK(message("redis://h:65536").find("port") != std::string::npos);
  CHECK(message("redis://h:").find("port") != std::string::npos);
  CHECK(message("redis://h:6379x").find("port") != std::string::npos);
  CHECK(message("redis://h/x").find("database") != std::string::npos);
  CHECK(message("redis://h/-1").find("database") != std::string::npos);
  CHECK(message("redis://h/1/2").find("database") != std::string::npos);
  CHECK(message("redis://h?db=99999999999").find("database") != std::string::npos);
  CHECK(message("redis://::1:6379").find("brackets") != std::string::npos);
  CHECK(message("redis://[::1").find("']'") != std::string::npos);
  CHECK(message("redis://[zz]").find("IPv6") != std::string::npos);
  CHECK(message("redis://h o st").find("host") != std::string::npos);
  CHECK(message("redis://h#frag").find("fragment") != std::string::npos);
  CHECK(message("redis://user@h").find("without a password") != std::string::npos);
  CHECK(message("redis://:%zzsecret@h").find("percent") != std::string::npos);
  CHECK(message("redis://:secret%4@h").find("percent") != std::string::npos);
  CHECK(message("unix://").find("path") != std::string::npos);
  CHECK(message("unix://relative.sock").find("absolute") != std::string::npos);
  CHECK(message("unix:///" + std::string(200, 'a')).find("longer") != std::string::npos);
  CHECK(message("unix:///tmp/a%00b").find("NUL") != std::string::npos);
  CHECK(message("redis://:hunter2@h:99999").find("hunter2") == std::string::npos);
}

// ---- the value ---------------------------------------------------------------------

TEST_CASE("redis values: round trip, and every malformed form is rejected") {
  using mtasts::cache::decode_redis_value;
  using mtasts::cache::encode_redis_value;
  const auto p = stored_policy("example.com");
  const auto value = encode_redis_value(p);
  REQUIRE(value);
  CHECK(value->rfind("v1\n20240101T000000\n", 0) == 0);
  std::string why;
  auto back = decode_redis_value("example.com", *value, why);
  REQUIRE(back);
  check_same(*back, p);

  auto bad = [&](const std::string& v) {
    std::string reason;
    const bool rejected = !decode_redis_value("example.com", v, reason);
    CHECK_MESSAGE(rejected, v);
    CHECK(!reason.empty());
  };
  const std::string body = "version: STSv1\nmode: none\nmax_age: 60\n";
  bad("");
  bad("v2\nid\n1\n2\n1\n" + body);
  bad("v1\nid\n1\n2\n1");               // truncated header
  bad("v1\nid\nx\n2\n1\n" + body);      // bad number
  bad("v1\nid\n1\n2 \n1\n" + body);     // trailing junk in a number
  bad("v1\nid\n-1\n2\n1\n" + body);     // negative time
  bad("v1\nid\r\r\n1\n2\n1\n" + body);  // id with CRs (fuzz_cache_record finding)
  bad("v1\n\n1\n2\n1\n" + body);        // empty id
  bad("v1\n" + std::string(33, 'a') + "\n1\n2\n1\n" + body);             // §3.1: at most 32
  bad("v1\nid\n5\n2\n1\n" + body);                                       // expires before fetched
  bad("v1\nid\n1\n99999999999999999999\n1\n" + body);                    // overflow
  bad("v1\nid\n1\n2\n1\nversion: STSv1\nmode: enforce\nmax_age: 60\n");  // no mx
  bad("v1\nid\n1\n2\n1\n" + std::string(mtasts::cache::kMaxRedisValue, 'x'));
  CHECK(decode_redis_value("example.com", "v1\nid\n1\n2\n1\n" + body, why));

  auto odd = p;
  odd.txt_id = "a\nb";
  CHECK_FALSE(encode_redis_value(odd));
  odd.txt_id = "a\rb";  // what encode writes, decode must read back
  CHECK_FALSE(encode_redis_value(odd));
}

// ---- against a real server -----------------------------------------------------------

TEST_CASE("a policy's key expires with the policy; an expired one is deleted, not saved") {
  RedisServer server;
  boost::asio::io_context io;
  RedisStore writer(io, options(server.url()));
  CHECK(writer.describe() == "redis://127.0.0.1:" + std::to_string(server.port()) + "/0");
  REQUIRE(run_until(io, [&] { return writer.connected(); }));

  const auto p = stored_policy("fleet.example", 86400);
  writer.save(p);
  REQUIRE(run_until(io, [&] { return writer.queued_writes() == 0; }));
  RawClient raw(server.raw());
  CHECK(raw.cmd("EXPIRETIME test:policy:fleet.example")->integer == p.expires_at);
  const auto ttl = raw.cmd("TTL test:policy:fleet.example")->integer;
  CHECK(ttl <= p.expires_at - unix_now());
  CHECK(ttl >= p.expires_at - unix_now() - 2);

  // An already expired policy is not kept: saving it deletes the older copy.
  auto expired = p;
  expired.expires_at = unix_now() - 1;
  writer.save(expired);
  REQUIRE(run_until(io, [&] { return writer.queued_writes() == 0; }));
  CHECK(raw.cmd("EXISTS test:policy:fleet.example")->integer == 0);
}

TEST_CASE("load_all skips (and logs) values that are no policy, and keys of another prefix") {
  RedisServer server;
  {
    boost::asio::io_context io;
    RedisStore store(io, options(server.url()));
    REQUIRE(run_until(io, [&] { return store.connected(); }));
    for (int i = 0; i < 25; ++i) store.save(stored_policy("d" + std::to_string(i) + ".example"));
    REQUIRE(run_until(
        io, [&] { return store.queued_writes() == 0; }, 20000ms));
  }
  RawClient raw(server.raw());
  raw.cmd("SET test:policy:garbage.example %s", "not a policy");
  raw.cmd("SET test:policy:badbody.example %s", "v1\nid\n1\n2\n1\nversion: STSv9\n");
  raw.cmd("HSET test:policy:hash.example f v");      // wrong type: MGET gives nil
  raw.cmd("SET other:policy:x.example %s", "v1\n");  // another prefix: not ours

  LogCapture log;
  boost::asio::io_context io;
  RedisStore store(io, options(server.url()));
  std::map<std::string, CachedPolicy> loaded;
  store.load_all([&](CachedPolicy p) { loaded.emplace(p.domain, std::move(p)); });
  CHECK(loaded.size() == 25);
  CHECK(loaded.count("d0.example") == 1);
  CHECK(loaded.count("d24.example") == 1);
  CHECK(loaded.at("d7.example").policy.mx.size() == 2);
  CHECK(log.count("skipping unusable value for 'garbage.example'") == 1);
  CHECK(log.count("skipping unusable value for 'badbody.example'") == 1);
}

TEST_CASE("a glob character in the key prefix matches literally in SCAN") {
  RedisServer server;
  RawClient raw(server.raw());
  const auto value = *mtasts::cache::encode_redis_value(stored_policy("x.example"));
  raw.cmd("SET %s %b", "p*:x.example", value.data(), value.size());
  raw.cmd("SET %s %b", "pq:y.example", value.data(), value.size());
  boost::asio::io_context io;
  auto o = options(server.url());
  o.key_prefix = "p*:";
  RedisStore store(io, o);
  std::vector<std::string> domains;
  store.load_all([&](CachedPolicy p) { domains.push_back(p.domain); });
  CHECK(domains == std::vector<std::string>{"x.example"});
}

TEST_CASE("an unusable stored value is a miss, logged") {
  RedisServer server;
  RawClient raw(server.raw());
  raw.cmd("SET test:policy:bad.example %s", "v1\nid\n1\nsoon\n1\nversion: STSv1\n");
  raw.cmd("SET test:policy:invalid.example %s",
          "v1\nid\n1\n2\n1\nversion: STSv1\nmode: enforce\nmax_age: 99999999999\nmx: a\n");
  LogCapture log;
  boost::asio::io_context io;
  RedisStore store(io, options(server.url()));
  REQUIRE(run_until(io, [&] { return store.connected(); }));
  auto got = fetch(io, store, "bad.example");
  CHECK(got.calls == 1);
  CHECK_FALSE(got.policy);
  got = fetch(io, store, "invalid.example");
  CHECK(got.calls == 1);
  CHECK_FALSE(got.policy);
  CHECK(log.count("ignoring unusable value for 'bad.example'") == 1);
  CHECK(log.count("ignoring unusable value for 'invalid.example'") == 1);
}

TEST_CASE("Redis killed mid-run: misses are quick, writes queue, one warning; it comes back") {
  auto server = std::make_unique<RedisServer>();
  LogCapture log;
  boost::asio::io_context io;
  auto o = options(server->url());
  o.max_queued_writes = 5;
  RedisStore store(io, o);
  REQUIRE(run_until(io, [&] { return store.connected(); }));
  store.save(stored_policy("before.example"));
  REQUIRE(run_until(io, [&] { return store.queued_writes() == 0; }));

  const int port = server->port();
  server->kill();
  // Whether or not the loss has been noticed yet, a lookup ends within its deadline.
  auto got = fetch(io, store, "before.example");
  CHECK(got.calls == 1);
  CHECK_FALSE(got.policy);
  CHECK_FALSE(got.failure.empty());  // it may hold the policy: "cannot tell", not "absent"
  CHECK(got.took < 700ms);
  REQUIRE(run_until(io, [&] { return !store.connected(); }));

  for (int i = 0; i < 8; ++i) store.save(stored_policy("q" + std::to_string(i) + ".example"));
  store.remove("before.example");
  CHECK(store.queued_writes() == 5);  // bounded: the oldest are dropped
  got = fetch(io, store, "q7.example");
  CHECK(got.calls == 1);
  CHECK_FALSE(got.policy);
  CHECK(got.failure.find("not connected") != std::string::npos);
  CHECK(got.took < 100ms);  // disconnected: answered at once
  // Counted for mtastsd_store_errors_total: two lookups that could not be
  // answered, four writes dropped (nine queued, five kept).
  CHECK(store.error_counts().at(0).backend == "redis");
  CHECK(store.error_counts().at(0).reads == 2);
  CHECK(store.error_counts().at(0).writes == 4);

  // Several reconnect attempts fail meanwhile: still one warning.
  io.restart();
  io.run_for(700ms);
  CHECK(log.count("connection lost") == 1);
  CHECK(log.count("cannot connect") == 0);
  CHECK(log.count("more than 5 writes waiting") == 1);

  server->start();  // the same port again
  REQUIRE(server->port() == port);
  REQUIRE(run_until(io, [&] { return store.connected() && store.queued_writes() == 0; }));
  CHECK(log.count("connected again") == 1);
  RawClient raw(server->raw());
  // Nine writes queued, five kept: q0..q3 were dropped; the DEL arrived.
  CHECK(raw.cmd("EXISTS test:policy:q3.example")->integer == 0);
  CHECK(raw.cmd("EXISTS test:policy:before.example")->integer == 0);
  for (int i = 4; i < 8; ++i) {
    const std::string key = "test:policy:q" + std::to_string(i) + ".example";
    CHECK_MESSAGE(raw.cmd("EXISTS %s", key.c_str())->integer == 1, key);
  }
  got = fetch(io, store, "q7.example");
  REQUIRE(got.policy);
  CHECK(got.policy->domain == "q7.example");
  CHECK(store.error_counts().at(0).reads == 2);  // none since it came back
  CHECK(store.error_counts().at(0).writes == 4);
}

TEST_CASE("a write the server refuses is logged once and counted each time") {
  RedisServer server;
  LogCapture log;
  boost::asio::io_context io;
  RedisStore store(io, options(server.url()));
  REQUIRE(run_until(io, [&] { return store.connected(); }));
  RawClient raw(server.raw());
  // No memory left for writes: SET is refused with an OOM error.
  CHECK(raw.cmd("CONFIG SET maxmemory-policy noeviction")->type == REDIS_REPLY_STATUS);
  CHECK(raw.cmd("CONFIG SET maxmemory 1")->type == REDIS_REPLY_STATUS);
  store.save(stored_policy("one.example"));
  store.save(stored_policy("two.example"));
  REQUIRE(run_until(io, [&] { return store.error_counts().at(0).writes == 2; }));
  CHECK(log.count("write refused") == 1);
  CHECK(store.error_counts().at(0).reads == 0);
  CHECK(raw.cmd("CONFIG SET maxmemory 0")->type == REDIS_REPLY_STATUS);
  store.save(stored_policy("three.example"));
  REQUIRE(run_until(io, [&] { return log.count("writes accepted again") == 1; }));
  CHECK(store.error_counts().at(0).writes == 2);
}

TEST_CASE("a stalled Redis (SIGSTOP): lookups time out, the link is dropped, then recovers") {
  RedisServer server;
  LogCapture log;
  boost::asio::io_context io;
  auto o = options(server.url());
  o.command_timeout = 800ms;
  RedisStore store(io, o);
  REQUIRE(run_until(io, [&] { return store.connected(); }));
  store.save(stored_policy("s.example"));
  REQUIRE(run_until(io, [&] { return store.queued_writes() == 0; }));

  server.pause();
  auto got = fetch(io, store, "s.example");
  CHECK(got.calls == 1);
  CHECK_FALSE(got.policy);
  CHECK(got.failure.find("no reply within 500 ms") != std::string::npos);
  CHECK(got.took >= 450ms);
  CHECK(got.took < 700ms);  // min(command_timeout, 500 ms)
  store.save(stored_policy("t.example"));
  // No reply for command_timeout: the link is declared dead.
  REQUIRE(run_until(
      io, [&] { return !store.connected(); }, 3000ms));
  CHECK(log.count("connection lost") == 1);
  CHECK(store.queued_writes() >= 1);

  server.resume();
  REQUIRE(run_until(io, [&] { return store.connected() && store.queued_writes() == 0; }));
  CHECK(fetch(io, store, "t.example").policy);
  CHECK(fetch(io, store, "s.example").policy);
}

TEST_CASE("unreachable Redis at start: load_all returns promptly, lookups miss at once") {
  const int port = free_port();  // nothing listens there
  LogCapture log;
  boost::asio::io_context io;
  RedisStore store(io, options("redis://127.0.0.1:" + std::to_string(port)));
  const auto started = Clock::now();
  int loaded = 0;
  store.load_all([&](CachedPolicy) { ++loaded; });
  CHECK(Clock::now() - started < 1500ms);
  CHECK(loaded == 0);
  CHECK(log.count("cannot load policies at start") == 1);
  const auto got = fetch(io, store, "x.example");
  CHECK(got.calls == 1);
  CHECK_FALSE(got.policy);
  CHECK_FALSE(got.failure.empty());
  store.save(stored_policy("x.example"));
  io.restart();
  io.run_for(500ms);  // several failed attempts
  CHECK(log.count("cannot connect") == 1);
  CHECK(store.queued_writes() == 1);
}

TEST_CASE("a server that accepts but never answers: every step is bounded") {
  SilentListener silent;
  LogCapture log;
  boost::asio::io_context io;
  auto o = options("redis://127.0.0.1:" + std::to_string(silent.port()));
  o.command_timeout = 300ms;
  RedisStore store(io, o);
  const auto started = Clock::now();
  store.load_all([](CachedPolicy) {});
  CHECK(Clock::now() - started < 1000ms);
  CHECK(log.count("SCAN failed") == 1);
  io.restart();
  io.run_for(1000ms);  // handshakes time out, again and again
  CHECK_FALSE(store.connected());
  CHECK(log.count("cannot connect (no answer to PING)") == 1);
  const auto got = fetch(io, store, "x.example");
  CHECK(got.calls == 1);
  CHECK_FALSE(got.policy);
}

TEST_CASE("password and database from the URL; a wrong password is one error") {
  RedisServer server({"--requirepass", "s3cret"});
  boost::asio::io_context io;
  RedisStore store(io, options(server.url("/3").insert(8, ":s3cret@")));
  CHECK(store.describe().find("s3cret") == std::string::npos);
  REQUIRE(run_until(io, [&] { return store.connected(); }));
  store.save(stored_policy("auth.example"));
  REQUIRE(run_until(io, [&] { return store.queued_writes() == 0; }));
  RawClient raw(server.raw("s3cret"));
  raw.cmd("SELECT 3");
  CHECK(raw.cmd("EXISTS test:policy:auth.example")->integer == 1);
  int loaded = 0;
  store.load_all([&](CachedPolicy) { ++loaded; });
  CHECK(loaded == 1);

  LogCapture log;
  RedisStore wrong(io, options(server.url("/3").insert(8, ":nope@")));
  io.restart();
  io.run_for(600ms);
  CHECK_FALSE(wrong.connected());
  CHECK(log.count("handshake refused") == 1);
  wrong.load_all([](CachedPolicy) {});
  CHECK(log.count("AUTH failed") == 1);
}

TEST_CASE("unix socket URL with a database") {
  RedisServer server;
  boost::asio::io_context io;
  RedisStore store(io, options("unix://" + server.unix_path() + "?db=2"));
  REQUIRE(run_until(io, [&] { return store.connected(); }));
  store.save(stored_policy("sock.example"));
  REQUIRE(run_until(io, [&] { return store.queued_writes() == 0; }));
  CHECK(fetch(io, store, "sock.example").policy);
  RawClient raw(server.raw());
  raw.cmd("SELECT 2");
  CHECK(raw.cmd("EXISTS test:policy:sock.example")->integer == 1);
}

TEST_CASE("flush sends queued writes without the loop running, within its budget") {
  RedisServer server;
  RawClient raw(server.raw());
  SUBCASE("live connection: driven by hand") {
    boost::asio::io_context io;
    RedisStore store(io, options(server.url()));
    REQUIRE(run_until(io, [&] { return store.connected(); }));
    for (int i = 0; i < 3000; ++i) store.save(stored_policy("f" + std::to_string(i) + ".example"));
    const auto started = Clock::now();
    store.flush();  // io is not running
    CHECK(Clock::now() - started <= RedisStore::kFlushBudget + 100ms);
    CHECK(store.queued_writes() == 0);
    CHECK(raw.cmd("DBSIZE")->integer == 3000);
  }
  SUBCASE("no live connection: a short blocking one") {
    boost::asio::io_context io;
    RedisStore store(io, options(server.url()));  // never run: never connected
    store.save(stored_policy("late.example"));
    store.remove("gone.example");
    store.flush();
    CHECK(store.queued_writes() == 0);
    CHECK(raw.cmd("EXISTS test:policy:late.example")->integer == 1);
  }
  SUBCASE("a server that never answers: bounded") {
    SilentListener silent;
    boost::asio::io_context io;
    auto o = options("redis://127.0.0.1:" + std::to_string(silent.port()));
    o.connect_timeout = 5000ms;
    RedisStore store(io, o);
    store.save(stored_policy("lost.example"));
    const auto started = Clock::now();
    store.flush();
    CHECK(Clock::now() - started <= RedisStore::kFlushBudget + 100ms);
    CHECK(store.queued_writes() == 1);
  }
}

TEST_CASE("destroying the store with a lookup pending: done still runs once, later") {
  RedisServer server;
  boost::asio::io_context io;
  int calls = 0;
  bool found = true;
  {
    RedisStore store(io, options(server.url()));
    REQUIRE(run_until(io, [&] { return store.connected(); }));
    server.pause();
    store.fetch("p.example", [&](mtasts::cache::PolicyRead p_read) {
      std::optional<CachedPolicy> p = std::move(p_read.record);
      ++calls;
      found = p.has_value();
    });
    io.restart();
    io.run_for(20ms);
    CHECK(calls == 0);
  }
  CHECK(calls == 0);  // never from inside the destructor
  io.restart();
  io.run_for(50ms);
  CHECK(calls == 1);
  CHECK_FALSE(found);
  server.resume();
}

// ---- issue 16: what the shared store says is checked, not believed -------------------

namespace {

// A value as another fleet member (or anyone with the Redis password) could write it.
std::string raw_value(const std::string& id, std::int64_t fetched, std::int64_t expires,
                      const std::string& body) {
  return "v1\n" + id + "\n" + std::to_string(fetched) + "\n" + std::to_string(expires) + "\n" +
         std::to_string(fetched) + "\n" + body;
}

const std::string kMaxAgeOne = "version: STSv1\nmode: enforce\nmx: mx.example\nmax_age: 1\n";
const std::string kDay = "version: STSv1\nmode: enforce\nmx: mx.example\nmax_age: 86400\n";

}  // namespace

TEST_CASE("redis values that stretch a policy past max_age or come from the future are refused") {
  using mtasts::cache::decode_redis_value;
  const auto now = unix_now();
  std::string why;
  // RFC 8461 §3.2: max_age 1 with an expiry of 2^63-1 would be answered forever.
  CHECK_FALSE(
      decode_redis_value("x.example", raw_value("id1", now - 10, INT64_MAX, kMaxAgeOne), why));
  CHECK(why.find("max_age") != std::string::npos);
  // One second more than max_age allows.
  CHECK_FALSE(
      decode_redis_value("x.example", raw_value("id1", now - 10, now - 8, kMaxAgeOne), why));
  CHECK(decode_redis_value("x.example", raw_value("id1", now - 10, now - 9, kMaxAgeOne), why));
  // A fetch time a day ahead: the policy would outlive its max_age by a day.
  CHECK_FALSE(
      decode_redis_value("x.example", raw_value("id1", now + 86400, now + 2 * 86400, kDay), why));
  CHECK(why.find("future") != std::string::npos);
  // Clock skew between fleet members is tolerated.
  CHECK(decode_redis_value("x.example", raw_value("id1", now + 60, now + 60 + 86400, kDay), why));
  // A body that does not parse (no max_age).
  CHECK_FALSE(decode_redis_value(
      "x.example", raw_value("id1", now, now + 10, "version: STSv1\nmode: testing\nmx: a\n"), why));
}

TEST_CASE("stretched, future and unparsable Redis values are neither loaded nor fetched") {
  RedisServer server;
  RawClient raw(server.raw());
  const auto now = unix_now();
  const auto good = raw_value("id1", now - 10, now - 10 + 86400, kDay);
  const auto stretched = raw_value("id1", now - 10, INT64_MAX, kMaxAgeOne);
  const auto future = raw_value("id1", now + 86400, now + 2 * 86400, kDay);
  const auto unparsable = raw_value("id1", now - 10, now + 10, "version: STSv1\nmode: enforce\n");
  raw.cmd("SET test:policy:good.example %b", good.data(), good.size());
  raw.cmd("SET test:policy:stretched.example %b", stretched.data(), stretched.size());
  raw.cmd("SET test:policy:future.example %b", future.data(), future.size());
  raw.cmd("SET test:policy:unparsable.example %b", unparsable.data(), unparsable.size());

  LogCapture log;
  boost::asio::io_context io;
  RedisStore store(io, options(server.url()));
  std::map<std::string, CachedPolicy> loaded;
  store.load_all([&](CachedPolicy p) { loaded.emplace(p.domain, std::move(p)); });
  CHECK(loaded.size() == 1);
  CHECK(loaded.count("good.example") == 1);
  CHECK(log.count("'stretched.example': expires_at") == 1);
  CHECK(log.count("'future.example': fetched in the future") == 1);

  REQUIRE(run_until(io, [&] { return store.connected(); }));
  for (const char* domain : {"stretched.example", "future.example", "unparsable.example"}) {
    const auto got = fetch(io, store, domain);
    CHECK(got.calls == 1);
    CHECK_MESSAGE(!got.policy, domain);
  }
  CHECK(fetch(io, store, "good.example").policy);
  // Logged at the load; the misses after it do not repeat it.
  CHECK(log.count("stretched.example") == 1);
  CHECK(log.count("unparsable.example") == 1);
}

TEST_CASE("an unusable value is logged once however often it is read, its name escaped") {
  RedisServer server;
  RawClient raw(server.raw());
  const std::string domain = "evil.example\n[info] forged";
  raw.cmd("SET %b %s", ("test:policy:" + domain).data(), domain.size() + 12, "junk");
  LogCapture log;
  boost::asio::io_context io;
  RedisStore store(io, options(server.url()));
  REQUIRE(run_until(io, [&] { return store.connected(); }));
  for (int i = 0; i < 3; ++i) CHECK_FALSE(fetch(io, store, domain).policy);
  CHECK(log.count("ignoring unusable value for 'evil.example\\x0a[info] forged'") == 1);
  CHECK(log.count("\n[info] forged") == 0);
}
