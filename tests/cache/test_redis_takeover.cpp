// RedisStore at start-up on a server postfix-mta-sts-resolver used (issue 13): its
// ZSET keys, exactly as its redis_cache.py writes them, are taken over (answered
// and written under our own keys) and left as they were.
#include <doctest/doctest.h>
#include <hiredis/hiredis.h>

#include <boost/asio/io_context.hpp>
#include <map>
#include <string>

#include "cache/redis_store.hpp"
#include "cache/takeover_entry.hpp"
#include "redis_test_support.hpp"

using mtasts::cache::CachedPolicy;
using mtasts::cache::RedisStore;
using namespace mtasts_test;

namespace {

// pack_entry(): 16 bytes of uuid4, then json.dumps((pol_id, pol_body)).
std::string member(const std::string& pol_id, const std::string& pol_body) {
  return std::string("\x01\x02\x03\x04\x05\x06\x07\x08\x09\x0a\x0b\x0c\x0d\x0e\x0f\x10", 16) +
         "[\"" + pol_id + "\", " + pol_body + "]";
}

std::string enforce_json(const std::string& domain) {
  return R"({"mx": ["mail.)" + domain + R"(", "*.backup.)" + domain +
         R"("], "version": "STSv1", "mode": "enforce", "max_age": 86400})";
}

// set(): ZADD key {packed: ts}, the score a float time.time().
void zadd(RawClient& raw, const std::string& key, double ts, const std::string& value) {
  const std::string score = std::to_string(ts);
  raw.cmd("ZADD %b %s %b", key.data(), key.size(), score.c_str(), value.data(), value.size());
}

std::string zset_dump(RawClient& raw, const std::string& key) {
  auto r = raw.cmd("ZRANGE %s 0 -1 WITHSCORES", key.c_str());
  std::string out;
  for (std::size_t i = 0; i < r->elements; ++i) {
    out.append(r->element[i]->str, r->element[i]->len).append("|");
  }
  return out;
}

}  // namespace

TEST_CASE("redis member: pol_id and pol_body split out, anything else refused") {
  std::string id, body, error;
  REQUIRE(
      mtasts::cache::split_redis_member(member("abc", enforce_json("x.example")), id, body, error));
  CHECK(id == "abc");
  CHECK(body.find("{\"mx\":[\"mail.x.example\"") == 0);  // key order kept
  CHECK_FALSE(mtasts::cache::split_redis_member("short", id, body, error));
  CHECK_FALSE(mtasts::cache::split_redis_member(std::string(16, 'x') + "[1, {}]", id, body, error));
  CHECK(error == "the member is not a JSON pair [pol_id, pol_body]");
  CHECK_FALSE(mtasts::cache::split_redis_member(std::string(16, 'x') + "{", id, body, error));
  CHECK(error.find("not JSON") != std::string::npos);
}

TEST_CASE("postfix-mta-sts-resolver's redis keys are taken over and left as they were") {
  RedisServer server;
  RawClient raw(server.raw());
  const auto now = static_cast<double>(unix_now());
  zadd(raw, "one.example", now - 100.25, member("id1", enforce_json("one.example")));
  zadd(raw, "two.example", now - 50.5, member("id2", enforce_json("two.example")));
  zadd(raw, "old.example", now - 86400 - 10, member("id1", enforce_json("old.example")));
  zadd(raw, "broken.example", now - 10, member("id1", R"({"mx": [)"));
  zadd(raw, "age.example", now - 10,
       member("id1", R"({"mx": ["m.age.example"], "version": "STSv1", "mode": "enforce", )"
                     R"("max_age": "soon"})"));
  zadd(raw, "future.example", now + 86400, member("id1", enforce_json("future.example")));
  zadd(raw, "own.example", now - 5, member("theirs", enforce_json("own.example")));
  raw.cmd("HSET _metadata proactive_fetch_ts %s", std::to_string(now).c_str());
  const auto before = zset_dump(raw, "one.example");

  boost::asio::io_context io;
  {
    // This daemon's own policy for own.example, under its key.
    RedisStore writer(io, options(server.url()));
    REQUIRE(run_until(io, [&] { return writer.connected(); }));
    auto ours = stored_policy("own.example");
    ours.txt_id = "ours";
    writer.save(ours);
    REQUIRE(run_until(io, [&] { return writer.queued_writes() == 0; }));
  }

  LogCapture log;
  RedisStore store(io, options(server.url()));
  std::map<std::string, CachedPolicy> loaded;
  store.load_all([&](CachedPolicy p) { loaded.emplace(p.domain, std::move(p)); });
  CHECK(loaded.size() == 3);
  REQUIRE(loaded.count("one.example") == 1);
  const auto& one = loaded.at("one.example");
  CHECK(one.txt_id == "id1");
  CHECK(one.fetched_at == static_cast<std::int64_t>(now) - 101);  // the float ts, floored
  CHECK(one.expires_at == one.fetched_at + 86400);
  CHECK(one.policy.mx == std::vector<std::string>{"mail.one.example", "*.backup.one.example"});
  CHECK(loaded.count("two.example") == 1);
  CHECK(loaded.at("own.example").txt_id == "ours");
  CHECK(log.count("took over 2 policies from postfix-mta-sts-resolver's keys") == 1);
  CHECK(log.count("skipped 5: 1 expired (not revived), 3 unusable (named above), 1 already") == 1);
  CHECK(log.count("key 'broken.example' not taken over: the member is not JSON") == 1);
  CHECK(log.count("key 'age.example' not taken over: max_age \"soon\"") == 1);
  CHECK(log.count("key 'future.example' not taken over: ts") == 1);

  // Written under our own keys for the fleet, expiring with the policy.
  REQUIRE(run_until(io, [&] { return store.connected() && store.queued_writes() == 0; }));
  CHECK(raw.cmd("EXISTS test:policy:one.example")->integer == 1);
  CHECK(raw.cmd("EXPIRETIME test:policy:one.example")->integer == one.expires_at);
  // Its keys untouched.
  CHECK(zset_dump(raw, "one.example") == before);
  CHECK(raw.cmd("TTL one.example")->integer == -1);
  CHECK(raw.cmd("ZCARD old.example")->integer == 1);
  CHECK(std::string(raw.cmd("TYPE _metadata")->str) == "hash");
}
