// cache.type redis_sentinel: RedisStore finding its master through real
// redis-sentinel processes (redis_sentinel.hpp), following a failover, and
// saying "cannot tell" with the reason while no master is known. What every
// store promises is test_store_contract.cpp's (SentinelBackend).
#include <doctest/doctest.h>
#include <hiredis/hiredis.h>

#include <boost/asio/io_context.hpp>
#include <chrono>
#include <memory>
#include <string>

#include "cache/redis_sentinel.hpp"
#include "cache/redis_store.hpp"
#include "redis_sentinel_test_support.hpp"

using mtasts::cache::CachedPolicy;
using mtasts::cache::PolicyRead;
using mtasts::cache::RedisStore;
using mtasts::cache::SentinelOptions;
using namespace mtasts_test;

namespace {

struct Lookup {
  int calls = 0;
  std::optional<CachedPolicy> policy;
  std::string failure;
  std::chrono::milliseconds took{0};
};

Lookup lookup(boost::asio::io_context& io, RedisStore& store, const std::string& domain) {
  auto result = std::make_shared<Lookup>();
  const auto started = Clock::now();
  store.fetch(domain, [result](PolicyRead read) {
    ++result->calls;
    result->policy = std::move(read.record);
    result->failure = std::move(read.failure);
  });
  run_until(io, [&] { return result->calls > 0; });
  result->took = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - started);
  io.restart();
  io.run_for(20ms);  // a second call would show up here
  return *result;
}

// The value under our key on one server, read with a raw client ("" = none).
std::string raw_get(const RedisServer& server, const std::string& domain) {
  RawClient raw(server.raw());
  auto r = raw.cmd("GET test:policy:%s", domain.c_str());
  return r->type == REDIS_REPLY_STRING ? std::string(r->str, r->len) : std::string();
}

std::string master_url(int port) { return "redis://127.0.0.1:" + std::to_string(port) + "/0"; }

}  // namespace

TEST_CASE("redis sentinel: the store finds the master through the sentinels and round-trips") {
  SentinelGroup group(1, 1, 1);
  LogCapture log;
  boost::asio::io_context io;
  const auto policy = stored_policy("one.example");
  {
    RedisStore store(io, sentinel_store_options(group.options()));
    CHECK(store.describe() == "sentinel master 'mymaster' (127.0.0.1:" +
                                  std::to_string(group.sentinel(0).port()) + ")");
    REQUIRE(run_until(io, [&] { return store.connected(); }));
    CHECK(log.contains("connected to " + master_url(group.master.port())));
    store.save(policy);
    REQUIRE(run_until(io, [&] { return store.queued_writes() == 0; }));
    // Written to the master the sentinel named, not anywhere else.
    CHECK_FALSE(raw_get(group.master, "one.example").empty());
    auto got = lookup(io, store, "one.example");
    REQUIRE(got.policy);
    check_same(*got.policy, policy);
  }
  // A restart loads it through the sentinel too (the blocking start-up path).
  RedisStore again(io, sentinel_store_options(group.options()));
  std::vector<CachedPolicy> loaded;
  CHECK(again.load_all([&](CachedPolicy p) { loaded.push_back(std::move(p)); }));
  REQUIRE(loaded.size() == 1);
  check_same(loaded[0], policy);
}

TEST_CASE(
    "redis sentinel: the master is killed, the sentinels promote the replica, and the store "
    "writes there") {
  SentinelGroup group(1, 3, 2);
  REQUIRE(group.settle());
  LogCapture log;
  boost::asio::io_context io;
  RedisStore store(io, sentinel_store_options(group.options()));
  REQUIRE(run_until(io, [&] { return store.connected(); }));
  const auto before = stored_policy("before.example");
  store.save(before);
  REQUIRE(run_until(io, [&] { return store.queued_writes() == 0; }));
  // Replicated before the master dies, so the promoted replica has it.
  const auto replicated = Clock::now() + 5s;
  while (raw_get(group.replica(0), "before.example").empty() && Clock::now() < replicated) {
    std::this_thread::sleep_for(20ms);
  }
  REQUIRE_FALSE(raw_get(group.replica(0), "before.example").empty());

  group.master.kill();
  REQUIRE(run_until(io, [&] { return !store.connected(); }));
  // While no master is known a lookup says "cannot tell" at once, and a write waits.
  auto during = lookup(io, store, "before.example");
  CHECK_FALSE(during.policy);
  CHECK_FALSE(during.failure.empty());
  CHECK(during.took < 700ms);
  const auto queued = stored_policy("queued.example");
  store.save(queued);

  const int promoted = group.replica(0).port();
  REQUIRE(run_until(
      io, [&] { return store.connected() && store.queued_writes() == 0; }, 40000ms));
  CHECK(group.sentinel(0).master_port() == promoted);
  CHECK(log.contains("the sentinels name " + master_url(promoted) + " as master now"));
  // The write queued during the failover and a new one land on the new master.
  const auto after = stored_policy("after.example");
  store.save(after);
  REQUIRE(run_until(io, [&] { return store.queued_writes() == 0; }));
  CHECK_FALSE(raw_get(group.replica(0), "queued.example").empty());
  CHECK_FALSE(raw_get(group.replica(0), "after.example").empty());
  for (const auto* want : {&before, &queued, &after}) {
    auto got = lookup(io, store, want->domain);
    REQUIRE_MESSAGE(got.policy, want->domain << ": " << got.failure);
    check_same(*got.policy, *want);
  }
}

TEST_CASE(
    "redis sentinel: +switch-master moves the store to the promoted replica before any write "
    "fails") {
  SentinelGroup group(1, 1, 1);
  REQUIRE(group.settle());
  LogCapture log;
  boost::asio::io_context io;
  RedisStore store(io, sentinel_store_options(group.options()));
  REQUIRE(run_until(io, [&] { return store.connected(); }));
  io.restart();
  io.run_for(500ms);  // the watcher subscribes meanwhile
  {
    // A failover with the old master still up: nothing breaks our link to it.
    const timeval tv{2, 0};
    RawClient raw(redisConnectWithTimeout("127.0.0.1", group.sentinel(0).port(), tv));
    REQUIRE(raw.c->err == 0);
    auto r = raw.cmd("SENTINEL FAILOVER %s", kMasterName);
    REQUIRE(r->type != REDIS_REPLY_ERROR);
  }
  const int promoted = group.replica(0).port();
  REQUIRE(run_until(
      io, [&] { return log.contains("(+switch-master)") && store.connected(); }, 30000ms));
  CHECK(log.contains("switched the master to 127.0.0.1:" + std::to_string(promoted)));
  CHECK(log.contains("connected again to " + master_url(promoted)));
  store.save(stored_policy("switched.example"));
  REQUIRE(run_until(io, [&] { return store.queued_writes() == 0; }));
  CHECK_FALSE(raw_get(group.replica(0), "switched.example").empty());
  CHECK(store.error_counts().at(0).writes == 0);
}

TEST_CASE(
    "redis sentinel: a master turned replica (READONLY, then ROLE) is left until the sentinels' "
    "master is one again") {
  SentinelGroup group(0, 1, 1);
  RedisServer elsewhere;  // what the master is made a replica of, behind the sentinel's back
  LogCapture log;
  boost::asio::io_context io;
  RedisStore store(io, sentinel_store_options(group.options()));
  REQUIRE(run_until(io, [&] { return store.connected(); }));
  {
    RawClient raw(group.master.raw());
    raw.cmd("REPLICAOF 127.0.0.1 %d", elsewhere.port());
  }
  store.save(stored_policy("refused.example"));
  // The READONLY reply drops the link; the sentinel still names the same server,
  // whose ROLE now says it is a replica: no writes go there.
  REQUIRE(run_until(io, [&] { return log.contains("is not a master (ROLE: slave)"); }));
  CHECK(log.contains("READONLY"));
  CHECK_FALSE(store.connected());
  CHECK(store.queued_writes() == 1);
  {
    RawClient raw(group.master.raw());
    raw.cmd("REPLICAOF NO ONE");
  }
  REQUIRE(run_until(io, [&] { return store.connected() && store.queued_writes() == 0; }));
  CHECK_FALSE(raw_get(group.master, "refused.example").empty());
  CHECK(store.error_counts().at(0).writes == 0);  // retried, not refused
}

TEST_CASE(
    "redis sentinel: with no sentinel naming a master, lookups fail at once as 'cannot tell' and "
    "the log says why") {
  SentinelGroup group(0, 1, 1);
  const int closed = free_port();  // nothing listens there
  SentinelOptions sentinel;
  sentinel.sentinels = {{"127.0.0.1", closed}, {"127.0.0.1", group.sentinel(0).port()}};
  sentinel.master_name = "othermaster";  // the live sentinel watches mymaster only
  LogCapture log;
  boost::asio::io_context io;
  RedisStore store(io, sentinel_store_options(sentinel));
  REQUIRE(run_until(io, [&] { return log.contains("cannot connect"); }));
  const std::string dead = "sentinel 127.0.0.1:" + std::to_string(closed) + ": Connection refused";
  const std::string unaware = "sentinel 127.0.0.1:" + std::to_string(group.sentinel(0).port()) +
                              ": does not know a master named 'othermaster'";
  CHECK(log.contains(dead));
  CHECK(log.contains(unaware));
  auto got = lookup(io, store, "one.example");
  CHECK(got.calls == 1);
  CHECK_FALSE(got.policy);
  CHECK(got.failure.find("no sentinel named the master") != std::string::npos);
  CHECK(got.failure.find(unaware) != std::string::npos);
  CHECK(got.took < 100ms);
  store.save(stored_policy("one.example"));
  CHECK(store.queued_writes() == 1);
  // Retried with back-off: still one warning.
  io.restart();
  io.run_for(500ms);
  CHECK(log.count("cannot connect") == 1);
  // The start-up load does not wait long either, and says the same.
  const auto started = Clock::now();
  CHECK_FALSE(store.load_all([](CachedPolicy) {}));
  CHECK(Clock::now() - started < 3s);
  CHECK(log.contains("cannot load policies at start (no sentinel named the master"));
}

TEST_CASE("redis sentinel: postfix-mta-sts-resolver's keys on the master are taken over") {
  SentinelGroup group(0, 1, 1);
  {
    // As its redis_cache.py set() writes them: a ZSET of one member, 16 bytes of
    // uuid4 then json.dumps((pol_id, pol_body)), scored with the fetch time.
    RawClient raw(group.master.raw());
    const std::string member =
        std::string(16, 'u') +
        R"(["id1", {"mx": ["mail.their.example"], "version": "STSv1", "mode": "enforce", )"
        R"("max_age": 86400}])";
    raw.cmd("ZADD their.example %s %b", std::to_string(unix_now() - 100).c_str(), member.data(),
            member.size());
  }
  boost::asio::io_context io;
  RedisStore store(io, sentinel_store_options(group.options()));
  std::vector<CachedPolicy> loaded;
  store.load_all([&](CachedPolicy p) { loaded.push_back(std::move(p)); });
  REQUIRE(loaded.size() == 1);
  CHECK(loaded[0].domain == "their.example");
  CHECK(loaded[0].txt_id == "id1");
  // Written under our own key on the master the sentinel named.
  REQUIRE(run_until(io, [&] { return store.connected() && store.queued_writes() == 0; }));
  CHECK_FALSE(raw_get(group.master, "their.example").empty());
}

TEST_CASE("redis sentinel options: what cannot work is refused when the store is made") {
  boost::asio::io_context io;
  SentinelOptions sentinel;
  sentinel.master_name = "mymaster";
  CHECK_THROWS_WITH(RedisStore(io, sentinel_store_options(sentinel)),
                    "redis sentinel: no sentinels given");
  sentinel.sentinels = {{"127.0.0.1", 70000}};
  CHECK_THROWS_WITH(RedisStore(io, sentinel_store_options(sentinel)),
                    "redis sentinel 127.0.0.1: port 70000 out of range");
  sentinel.sentinels = {{"127.0.0.1", 26379}};
  sentinel.master_name.clear();
  CHECK_THROWS_WITH(RedisStore(io, sentinel_store_options(sentinel)),
                    "redis sentinel: no master name given");
}
