#pragma once
// A short-lived blocking Redis connection for the moments no event loop runs:
// the start-up load and the last flush. Every step is bounded: hiredis applies
// connect_timeout to connect(2) and command_timeout to each read and write.
#include <chrono>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "cache/redis_url.hpp"

struct redisContext;
struct redisReply;

namespace mtasts::cache {

struct RedisReplyDeleter {
  void operator()(redisReply* reply) const;
};
using RedisReplyPtr = std::unique_ptr<redisReply, RedisReplyDeleter>;

// AUTH and SELECT as the URL asks (Redis 6 ACL form when a user is given).
std::vector<std::vector<std::string>> redis_handshake_commands(const RedisEndpoint& endpoint);

class RedisSyncClient {
 public:
  // Connects and runs the handshake; check ok() / error().
  RedisSyncClient(const RedisEndpoint& endpoint, std::chrono::milliseconds connect_timeout,
                  std::chrono::milliseconds command_timeout);
  ~RedisSyncClient();
  RedisSyncClient(const RedisSyncClient&) = delete;
  RedisSyncClient& operator=(const RedisSyncClient&) = delete;

  bool ok() const { return context_ != nullptr && error_.empty(); }
  const std::string& error() const { return error_; }

  // One command, one reply; null (and error() set) on an I/O failure or timeout,
  // after which the client is unusable. Redis error replies are returned as replies.
  RedisReplyPtr command(const std::vector<std::string_view>& args);
  // Pipelining: append any number of commands, then read their replies in order.
  bool append(const std::vector<std::string_view>& args);
  RedisReplyPtr next_reply();

 private:
  void fail(const std::string& what);

  redisContext* context_ = nullptr;
  std::string error_;
};

}  // namespace mtasts::cache
