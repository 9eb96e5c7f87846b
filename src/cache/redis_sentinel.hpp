#pragma once
// Finding the Redis master through Redis Sentinel (cache.type redis_sentinel,
// postfix-mta-sts-resolver 1.5.0's redis-py Sentinel(...).master_for(NAME)).
//
// Each sentinel is asked in turn `SENTINEL get-master-addr-by-name NAME` on a
// short-lived blocking connection bounded by the timeouts; the first address
// given is the master. The sentinels get no AUTH (redis-py's Sentinel is built
// without sentinel_kwargs there); the master gets the user, password and db.
// RedisStore asks again before every connection, so a failover (+switch-master,
// the link lost, a READONLY reply, a server that no longer says it is a master)
// takes it to whichever server the sentinels promoted.
#include <boost/asio/io_context.hpp>
#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "cache/redis_url.hpp"

namespace mtasts::cache {

struct SentinelAddress {
  std::string host;  // name or address, without IPv6 brackets
  int port = 26379;
};

struct SentinelOptions {
  std::vector<SentinelAddress> sentinels;  // asked in this order (the last one to answer first)
  std::string master_name;
  // The master's handshake, as redis-py's master_for(**options) sends it.
  std::string user;  // Redis 6 ACL user; empty = "default"
  std::string password;
  bool has_password = false;
  int db = 0;
};

// Throws std::invalid_argument naming what is wrong (no sentinels, no master
// name, a port out of range).
void check_sentinel_options(const SentinelOptions& options);

// "sentinel master 'mymaster' (127.0.0.1:26379, [::1]:26380)": for logs.
std::string describe_sentinels(const SentinelOptions& options);

struct SentinelAnswer {
  std::optional<RedisEndpoint> master;  // with the options' user, password and db
  std::string failure;                  // when no sentinel named a master: each one's reason
  std::size_t answered_by = 0;          // index of the sentinel that named it
};

// Blocking: asks the sentinels in turn, starting with `first`, each bounded by
// the two timeouts (so at most sentinels x (connect + command) in all).
SentinelAnswer ask_sentinels(const SentinelOptions& options, std::size_t first,
                             std::chrono::milliseconds connect_timeout,
                             std::chrono::milliseconds command_timeout);

// The query as the event loop needs it: asked on a thread of its own (a
// sentinel that does not answer must not stall the answers), the result posted
// to the io_context. The sentinel that answered last is asked first next time.
class SentinelLocator {
 public:
  SentinelLocator(boost::asio::io_context& io, SentinelOptions options,
                  std::chrono::milliseconds connect_timeout,
                  std::chrono::milliseconds command_timeout);
  // A query still running finishes on its own thread and never calls back.
  ~SentinelLocator();
  SentinelLocator(const SentinelLocator&) = delete;
  SentinelLocator& operator=(const SentinelLocator&) = delete;

  const SentinelOptions& options() const { return options_; }
  // Blocking, for the moments no loop runs (start-up load, last flush): at most
  // `connect_timeout` and `command_timeout` per sentinel.
  SentinelAnswer ask(std::chrono::milliseconds connect_timeout,
                     std::chrono::milliseconds command_timeout);
  // done runs once on the io_context's thread, unless this locator is destroyed first.
  void ask_async(std::function<void(SentinelAnswer)> done);
  // Subscribes to the sentinels' +switch-master (one sentinel at a time, the
  // next one when it goes away) on a thread of its own; switched(host, port)
  // runs on the io_context's thread for each switch of our master, until this
  // locator is destroyed. Messages sent while no subscription stands are missed:
  // the lost link and READONLY still lead to the new master.
  void watch_switches(std::function<void(std::string host, int port)> switched);

 private:
  struct Shared;  // what the query's thread and the locator share

  SentinelOptions options_;
  std::chrono::milliseconds connect_timeout_;
  std::chrono::milliseconds command_timeout_;
  std::shared_ptr<Shared> shared_;
};

}  // namespace mtasts::cache
