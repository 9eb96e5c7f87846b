#pragma once
// A real Redis Sentinel group on 127.0.0.1 for the redis_sentinel tests: one
// master, replicas (replicaof), and redis-sentinel processes, each with its own
// temporary directory and free port, stopped by PID. Waits are bounded.
#include <doctest/doctest.h>
#include <hiredis/hiredis.h>

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "cache/redis_sentinel.hpp"
#include "redis_test_support.hpp"

namespace mtasts_test {

inline constexpr const char* kMasterName = "mymaster";

// One redis-sentinel child watching kMasterName. Sentinel rewrites its
// configuration file, so the file lives in the sentinel's own directory.
class SentinelServer {
 public:
  SentinelServer(int master_port, int quorum) : port_(free_port()) {
    const auto conf = dir_.path / "sentinel.conf";
    std::ofstream out(conf);
    out << "port " << port_ << "\n"
        << "bind 127.0.0.1\n"
        << "daemonize no\n"
        << "dir " << dir_.path.string() << "\n"
        << "loglevel warning\n"
        << "sentinel monitor " << kMasterName << " 127.0.0.1 " << master_port << " " << quorum
        << "\n"
        // Quick enough for a test: the master is down after 800 ms without an answer.
        << "sentinel down-after-milliseconds " << kMasterName << " 800\n"
        << "sentinel failover-timeout " << kMasterName << " 3000\n"
        << "sentinel parallel-syncs " << kMasterName << " 1\n";
    out.close();
    REQUIRE(out.good());
    const char* program = std::getenv("MTASTSD_REDIS_SENTINEL");
    pid_ =
        spawn_child({program != nullptr && *program != '\0' ? program : "/usr/bin/redis-sentinel",
                     conf.string()});
    wait_for_port(port_, "redis-sentinel");
  }
  ~SentinelServer() { kill(); }
  SentinelServer(const SentinelServer&) = delete;
  SentinelServer& operator=(const SentinelServer&) = delete;

  int port() const { return port_; }
  void kill() { kill_child(pid_); }

  // The master's port as this sentinel names it now (0: no answer).
  int master_port() const {
    const timeval tv{1, 0};
    redisContext* c = redisConnectWithTimeout("127.0.0.1", port_, tv);
    if (c == nullptr || c->err != 0) {
      if (c != nullptr) redisFree(c);
      return 0;
    }
    auto* r = static_cast<redisReply*>(
        redisCommand(c, "SENTINEL get-master-addr-by-name %s", kMasterName));
    int port = 0;
    if (r != nullptr && r->type == REDIS_REPLY_ARRAY && r->elements == 2) {
      port = std::atoi(std::string(r->element[1]->str, r->element[1]->len).c_str());
    }
    if (r != nullptr) freeReplyObject(r);
    redisFree(c);
    return port;
  }

  // How many replicas and other sentinels this sentinel knows of.
  std::pair<std::size_t, std::size_t> known() const {
    const timeval tv{1, 0};
    redisContext* c = redisConnectWithTimeout("127.0.0.1", port_, tv);
    if (c == nullptr || c->err != 0) {
      if (c != nullptr) redisFree(c);
      return {0, 0};
    }
    auto count = [&](const char* what) {
      auto* r = static_cast<redisReply*>(redisCommand(c, "SENTINEL %s %s", what, kMasterName));
      const std::size_t n = r != nullptr && r->type == REDIS_REPLY_ARRAY ? r->elements : 0;
      if (r != nullptr) freeReplyObject(r);
      return n;
    };
    const auto result = std::make_pair(count("replicas"), count("sentinels"));
    redisFree(c);
    return result;
  }

 private:
  TempDir dir_{"mtasts-sentinel"};
  int port_;
  pid_t pid_ = -1;
};

// master + replicas + sentinels. settle() waits until every sentinel knows
// every replica and every other sentinel: only then can they agree on a failover.
class SentinelGroup {
 public:
  SentinelGroup(int replicas, int sentinels, int quorum) {
    for (int i = 0; i < replicas; ++i) {
      replicas_.push_back(std::make_unique<RedisServer>(
          std::vector<std::string>{"--replicaof", "127.0.0.1", std::to_string(master.port())}));
    }
    for (int i = 0; i < sentinels; ++i) {
      sentinels_.push_back(std::make_unique<SentinelServer>(master.port(), quorum));
    }
  }

  RedisServer master;

  RedisServer& replica(std::size_t i) { return *replicas_.at(i); }
  SentinelServer& sentinel(std::size_t i) { return *sentinels_.at(i); }

  mtasts::cache::SentinelOptions options() const {
    mtasts::cache::SentinelOptions o;
    for (const auto& s : sentinels_) o.sentinels.push_back({"127.0.0.1", s->port()});
    o.master_name = kMasterName;
    return o;
  }

  bool settle(std::chrono::milliseconds limit = 20000ms) {
    const auto deadline = Clock::now() + limit;
    while (Clock::now() < deadline) {
      bool all = true;
      for (const auto& s : sentinels_) {
        const auto [replicas, others] = s->known();
        if (replicas < replicas_.size() || others + 1 < sentinels_.size()) all = false;
      }
      if (all) return true;
      std::this_thread::sleep_for(100ms);
    }
    return false;
  }

  // Until every sentinel names `port` as the master.
  bool wait_master(int port, std::chrono::milliseconds limit = 30000ms) {
    const auto deadline = Clock::now() + limit;
    while (Clock::now() < deadline) {
      bool all = true;
      for (const auto& s : sentinels_) all = all && s->master_port() == port;
      if (all) return true;
      std::this_thread::sleep_for(100ms);
    }
    return false;
  }

 private:
  std::vector<std::unique_ptr<RedisServer>> replicas_;
  std::vector<std::unique_ptr<SentinelServer>> sentinels_;
};

// The store's options for the group: quick reconnects so a failover is followed quickly.
inline RedisOptions sentinel_store_options(const mtasts::cache::SentinelOptions& sentinel) {
  RedisOptions o = options("");
  o.sentinel = sentinel;
  return o;
}

}  // namespace mtasts_test
