#include "cache/redis_sync_client.hpp"

#include <hiredis/hiredis.h>
#include <sys/time.h>

namespace mtasts::cache {

namespace {

timeval to_timeval(std::chrono::milliseconds ms) {
  if (ms.count() < 1) ms = std::chrono::milliseconds(1);
  timeval tv{};
  tv.tv_sec = static_cast<time_t>(ms.count() / 1000);
  tv.tv_usec = static_cast<suseconds_t>((ms.count() % 1000) * 1000);
  return tv;
}

}  // namespace

void RedisReplyDeleter::operator()(redisReply* reply) const { freeReplyObject(reply); }

std::vector<std::vector<std::string>> redis_handshake_commands(const RedisEndpoint& endpoint) {
  std::vector<std::vector<std::string>> commands;
  if (endpoint.has_password) {
    if (endpoint.user.empty()) {
      commands.push_back({"AUTH", endpoint.password});
    } else {
      commands.push_back({"AUTH", endpoint.user, endpoint.password});
    }
  }
  if (endpoint.db != 0) commands.push_back({"SELECT", std::to_string(endpoint.db)});
  return commands;
}

RedisSyncClient::RedisSyncClient(const RedisEndpoint& endpoint,
                                 std::chrono::milliseconds connect_timeout,
                                 std::chrono::milliseconds command_timeout) {
  const timeval connect_tv = to_timeval(connect_timeout);
  context_ = endpoint.unix_socket
                 ? redisConnectUnixWithTimeout(endpoint.path.c_str(), connect_tv)
                 : redisConnectWithTimeout(endpoint.host.c_str(), endpoint.port, connect_tv);
  if (context_ == nullptr) {
    error_ = "cannot allocate a hiredis context";
    return;
  }
  if (context_->err != 0) {
    error_ = context_->errstr;
    return;
  }
  if (redisSetTimeout(context_, to_timeval(command_timeout)) != REDIS_OK) {
    fail("cannot set the socket timeout");
    return;
  }
  for (const auto& handshake : redis_handshake_commands(endpoint)) {
    std::vector<std::string_view> args(handshake.begin(), handshake.end());
    auto reply = command(args);
    if (!reply) return;
    if (reply->type == REDIS_REPLY_ERROR) {
      error_ = handshake.front() + " failed: " + std::string(reply->str, reply->len);
      return;
    }
  }
}

RedisSyncClient::~RedisSyncClient() {
  if (context_ != nullptr) redisFree(context_);
}

void RedisSyncClient::fail(const std::string& what) {
  if (!error_.empty()) return;
  error_ = what;
  if (context_ != nullptr && context_->err != 0) error_ += std::string(": ") + context_->errstr;
}

bool RedisSyncClient::append(const std::vector<std::string_view>& args) {
  if (context_ == nullptr || !error_.empty()) return false;
  std::vector<const char*> argv;
  std::vector<std::size_t> lengths;
  argv.reserve(args.size());
  lengths.reserve(args.size());
  for (auto arg : args) {
    argv.push_back(arg.data());
    lengths.push_back(arg.size());
  }
  if (redisAppendCommandArgv(context_, static_cast<int>(argv.size()), argv.data(),
                             lengths.data()) != REDIS_OK) {
    fail("cannot queue a command");
    return false;
  }
  return true;
}

RedisReplyPtr RedisSyncClient::next_reply() {
  if (context_ == nullptr || !error_.empty()) return nullptr;
  void* reply = nullptr;
  if (redisGetReply(context_, &reply) != REDIS_OK || reply == nullptr) {
    fail("no reply");
    return nullptr;
  }
  return RedisReplyPtr(static_cast<redisReply*>(reply));
}

RedisReplyPtr RedisSyncClient::command(const std::vector<std::string_view>& args) {
  if (!append(args)) return nullptr;
  return next_reply();
}

}  // namespace mtasts::cache
