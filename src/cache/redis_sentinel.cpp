#include "cache/redis_sentinel.hpp"

#include <hiredis/hiredis.h>

#include <atomic>
#include <boost/asio/post.hpp>
#include <charconv>
#include <mutex>
#include <sstream>
#include <stdexcept>
#include <thread>

#include "cache/redis_sync_client.hpp"
#include "util/log_text.hpp"

namespace mtasts::cache {

namespace {

std::string address_text(const std::string& host, int port) {
  if (host.find(':') != std::string::npos) return "[" + host + "]:" + std::to_string(port);
  return host + ":" + std::to_string(port);
}

std::string reply_text(const redisReply* reply) {
  if (reply == nullptr || reply->str == nullptr) return {};
  return util::log_text(std::string_view(reply->str, reply->len), 200);
}

// One sentinel's answer: the master's host and port, or why not.
std::optional<std::pair<std::string, int>> ask_one(const SentinelOptions& options,
                                                   const SentinelAddress& sentinel,
                                                   std::chrono::milliseconds connect_timeout,
                                                   std::chrono::milliseconds command_timeout,
                                                   std::string& why) {
  RedisEndpoint endpoint;
  endpoint.host = sentinel.host;
  endpoint.port = sentinel.port;
  RedisSyncClient client(endpoint, connect_timeout, command_timeout);
  if (!client.ok()) {
    why = client.error();
    return std::nullopt;
  }
  auto reply = client.command({"SENTINEL", "get-master-addr-by-name", options.master_name});
  if (!reply) {
    why = client.error();
    return std::nullopt;
  }
  if (reply->type == REDIS_REPLY_NIL) {
    why = "does not know a master named '" + util::log_text(options.master_name) + "'";
    return std::nullopt;
  }
  if (reply->type == REDIS_REPLY_ERROR) {
    why = "refused: " + reply_text(reply.get());
    return std::nullopt;
  }
  if (reply->type != REDIS_REPLY_ARRAY || reply->elements != 2 ||
      reply->element[0]->type != REDIS_REPLY_STRING ||
      reply->element[1]->type != REDIS_REPLY_STRING || reply->element[0]->len == 0) {
    why = "an answer that is not [HOST, PORT]";
    return std::nullopt;
  }
  const std::string host(reply->element[0]->str, reply->element[0]->len);
  const std::string_view port_text(reply->element[1]->str, reply->element[1]->len);
  int port = 0;
  const auto [end, ec] =
      std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
  if (ec != std::errc() || end != port_text.data() + port_text.size() || port < 1 || port > 65535) {
    why = "a master port that is not a port: " + util::log_text(port_text);
    return std::nullopt;
  }
  return std::make_pair(host, port);
}

}  // namespace

void check_sentinel_options(const SentinelOptions& options) {
  if (options.sentinels.empty()) throw std::invalid_argument("redis sentinel: no sentinels given");
  if (options.master_name.empty())
    throw std::invalid_argument("redis sentinel: no master name given");
  for (const auto& sentinel : options.sentinels) {
    if (sentinel.host.empty()) throw std::invalid_argument("redis sentinel: an empty host name");
    if (sentinel.port < 1 || sentinel.port > 65535)
      throw std::invalid_argument("redis sentinel " + sentinel.host + ": port " +
                                  std::to_string(sentinel.port) + " out of range");
  }
}

std::string describe_sentinels(const SentinelOptions& options) {
  std::string out = "sentinel master '" + util::log_text(options.master_name) + "' (";
  for (std::size_t i = 0; i < options.sentinels.size(); ++i) {
    if (i > 0) out += ", ";
    out += address_text(options.sentinels[i].host, options.sentinels[i].port);
  }
  return out + ")";
}

SentinelAnswer ask_sentinels(const SentinelOptions& options, std::size_t first,
                             std::chrono::milliseconds connect_timeout,
                             std::chrono::milliseconds command_timeout) {
  SentinelAnswer answer;
  const std::size_t count = options.sentinels.size();
  if (count == 0) {
    answer.failure = "no sentinels configured";
    return answer;
  }
  for (std::size_t n = 0; n < count; ++n) {
    const std::size_t index = (first + n) % count;
    const SentinelAddress& sentinel = options.sentinels[index];
    std::string why;
    if (auto master = ask_one(options, sentinel, connect_timeout, command_timeout, why)) {
      RedisEndpoint endpoint;
      endpoint.host = std::move(master->first);
      endpoint.port = master->second;
      endpoint.user = options.user;
      endpoint.password = options.password;
      endpoint.has_password = options.has_password;
      endpoint.db = options.db;
      answer.master = std::move(endpoint);
      answer.answered_by = index;
      answer.failure.clear();
      return answer;
    }
    if (!answer.failure.empty()) answer.failure += "; ";
    answer.failure += "sentinel " + address_text(sentinel.host, sentinel.port) + ": " + why;
  }
  answer.failure = "no sentinel named the master (" + answer.failure + ")";
  return answer;
}

struct SentinelLocator::Shared {
  boost::asio::io_context* io;
  std::mutex mutex;
  bool cancelled = false;  // under mutex: the locator is gone, post nothing
  std::atomic<std::size_t> first{0};
};

SentinelLocator::SentinelLocator(boost::asio::io_context& io, SentinelOptions options,
                                 std::chrono::milliseconds connect_timeout,
                                 std::chrono::milliseconds command_timeout)
    : options_(std::move(options)),
      connect_timeout_(connect_timeout),
      command_timeout_(command_timeout),
      shared_(std::make_shared<Shared>()) {
  check_sentinel_options(options_);
  shared_->io = &io;
}

SentinelLocator::~SentinelLocator() {
  // The io_context outlives the locator, not the thread: once cancelled is set
  // under the mutex, no thread posts to it again.
  std::lock_guard<std::mutex> lock(shared_->mutex);
  shared_->cancelled = true;
}

SentinelAnswer SentinelLocator::ask(std::chrono::milliseconds connect_timeout,
                                    std::chrono::milliseconds command_timeout) {
  auto answer = ask_sentinels(options_, shared_->first.load(), connect_timeout, command_timeout);
  if (answer.master) shared_->first.store(answer.answered_by);
  return answer;
}

void SentinelLocator::ask_async(std::function<void(SentinelAnswer)> done) {
  // Detached: a sentinel that black-holes connections holds the thread up to the
  // timeouts, and destroying the store must not wait for that.
  std::thread([shared = shared_, options = options_, connect = connect_timeout_,
               command = command_timeout_, done = std::move(done)]() mutable {
    auto answer = ask_sentinels(options, shared->first.load(), connect, command);
    if (answer.master) shared->first.store(answer.answered_by);
    std::lock_guard<std::mutex> lock(shared->mutex);
    if (shared->cancelled) return;
    boost::asio::post(*shared->io, [done = std::move(done), answer = std::move(answer)]() mutable {
      done(std::move(answer));
    });
  }).detach();
}

void SentinelLocator::watch_switches(std::function<void(std::string host, int port)> switched) {
  std::thread([shared = shared_, options = options_, connect = connect_timeout_,
               switched = std::move(switched)]() {
    auto cancelled = [&] {
      std::lock_guard<std::mutex> lock(shared->mutex);
      return shared->cancelled;
    };
    // A read times out now and then so that a black-holed sentinel is left; a
    // closed one is noticed at once.
    constexpr timeval kReadTimeout{10, 0};
    const timeval connect_tv{static_cast<time_t>(connect.count() / 1000),
                             static_cast<suseconds_t>((connect.count() % 1000) * 1000)};
    for (std::size_t n = 0; !cancelled(); ++n) {
      const SentinelAddress& sentinel = options.sentinels[n % options.sentinels.size()];
      redisContext* c = redisConnectWithTimeout(sentinel.host.c_str(), sentinel.port, connect_tv);
      bool subscribed = false;
      if (c != nullptr && c->err == 0 && redisSetTimeout(c, kReadTimeout) == REDIS_OK) {
        auto* r = static_cast<redisReply*>(redisCommand(c, "SUBSCRIBE +switch-master"));
        subscribed = r != nullptr && r->type == REDIS_REPLY_ARRAY;
        if (r != nullptr) freeReplyObject(r);
      }
      while (subscribed && !cancelled()) {
        void* raw = nullptr;
        if (redisGetReply(c, &raw) != REDIS_OK || raw == nullptr) break;
        RedisReplyPtr reply(static_cast<redisReply*>(raw));
        // ["message", "+switch-master", "NAME OLDIP OLDPORT NEWIP NEWPORT"]
        if (reply->type != REDIS_REPLY_ARRAY || reply->elements != 3 ||
            reply->element[2]->type != REDIS_REPLY_STRING)
          continue;
        std::istringstream words(std::string(reply->element[2]->str, reply->element[2]->len));
        std::string name, old_host, old_port, host;
        int port = 0;
        if (!(words >> name >> old_host >> old_port >> host >> port) ||
            name != options.master_name || port < 1 || port > 65535)
          continue;
        std::lock_guard<std::mutex> lock(shared->mutex);
        if (shared->cancelled) break;
        boost::asio::post(*shared->io, [switched, host, port] { switched(host, port); });
      }
      if (c != nullptr) redisFree(c);
      if (!subscribed) {
        // Refused or unreachable: try the next one a moment later.
        for (int i = 0; i < 10 && !cancelled(); ++i) {
          std::this_thread::sleep_for(std::chrono::milliseconds(100));
        }
      }
    }
  }).detach();
}

}  // namespace mtasts::cache
