#include "cache/redis_store.hpp"

#include <hiredis/async.h>
#include <hiredis/hiredis.h>
#include <poll.h>

#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <algorithm>
#include <boost/asio/post.hpp>
#include <stdexcept>
#include <unordered_set>

#include "cache/record_check.hpp"
#include "cache/redis_asio_adapter.hpp"
#include "cache/redis_sync_client.hpp"
#include "cache/redis_takeover.hpp"
#include "cache/redis_value.hpp"
#include "util/log_text.hpp"

namespace mtasts::cache {

namespace {

constexpr std::size_t kScanCount = 1000;
constexpr std::size_t kMaxLoggedBadValues = 10;
constexpr std::size_t kMaxDomainLength = 253;  // RFC 1035 §2.3.4
// A DANE destination may be Postfix's "[host]:port" next hop: a name and 8 more.
constexpr std::size_t kMaxDestinationLength = kMaxDomainLength + 8;
// A start-up load that could not connect spares the next one its wait for this long.
constexpr std::chrono::seconds kUnreachableMemory{60};

std::int64_t unix_now() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// SCAN MATCH is a glob: the prefix's own *?[]\ must match literally.
std::string glob_escape(const std::string& text) {
  std::string out;
  for (char c : text) {
    if (c == '*' || c == '?' || c == '[' || c == ']' || c == '\\') out += '\\';
    out += c;
  }
  return out;
}

std::string reply_text(const redisReply* reply) {
  if (reply == nullptr || reply->str == nullptr) return {};
  return std::string(reply->str, std::min<std::size_t>(reply->len, 200));
}

// The id of the handshake's ROLE command (sentinel mode): its reply is checked.
constexpr std::uint64_t kRoleCheck = 1;

void* encode_privdata(std::uint64_t id, std::uintptr_t kind) {
  return reinterpret_cast<void*>(static_cast<std::uintptr_t>(id << 2 | kind));
}

}  // namespace

RedisStore::RedisStore(boost::asio::io_context& io, RedisOptions options)
    : io_(io),
      options_(std::move(options)),
      endpoint_(options_.sentinel ? RedisEndpoint{} : parse_redis_url(options_.url)),
      backoff_(options_.reconnect_min),
      timer_(io) {
  if (options_.reconnect_min.count() < 1) options_.reconnect_min = std::chrono::milliseconds(1);
  if (options_.reconnect_max < options_.reconnect_min)
    options_.reconnect_max = options_.reconnect_min;
  backoff_ = options_.reconnect_min;
  if (options_.max_queued_writes == 0) options_.max_queued_writes = 1;
  // A SCAN of one prefix must never return the other kind's keys.
  const auto& policy = options_.key_prefix;
  const auto& dane = options_.dane_key_prefix;
  if (dane.empty() || policy.rfind(dane, 0) == 0 || dane.rfind(policy, 0) == 0) {
    throw std::invalid_argument("redis key prefixes '" + policy + "' and '" + dane +
                                "' overlap: one starts the other");
  }
  if (options_.sentinel) {
    locator_ = std::make_unique<SentinelLocator>(io_, *options_.sentinel, options_.connect_timeout,
                                                 options_.command_timeout);
  }
  if (locator_) {
    locator_->watch_switches(
        [this, alive = std::weak_ptr<int>(alive_)](const std::string& host, int port) {
          if (alive.expired() || stopping_) return;
          master_switched(host, port);
        });
  }
  connect();
}

RedisStore::~RedisStore() {
  stopping_ = true;
  alive_.reset();    // handlers still queued in the io_context become no-ops
  locator_.reset();  // a sentinel query still running posts nothing
  timer_.cancel();
  if (context_ != nullptr) {
    auto* context = context_;
    context_ = nullptr;
    redisAsyncFree(context);  // pending lookups get a null reply: finish_fetch posts them
  }
  for (auto& [id, fetch] : fetches_) {
    boost::asio::post(io_, [complete = std::move(fetch.complete)] {
      complete({std::nullopt, "the store is shutting down"});
    });
  }
  fetches_.clear();
}

std::string RedisStore::describe() const {
  if (locator_) return describe_sentinels(locator_->options());
  return endpoint_.describe();
}

// ---- connection ----------------------------------------------------------------

void RedisStore::connect() {
  if (!locator_) return connect_to(endpoint_);
  // Asked again before every connection: after a failover the old master is
  // gone or a replica, and only the sentinels know which server took over.
  state_ = LinkState::locating;
  locator_->ask_async([this, alive = std::weak_ptr<int>(alive_)](SentinelAnswer answer) {
    if (alive.expired() || stopping_ || state_ != LinkState::locating) return;
    try {
      located(std::move(answer));
    } catch (const std::exception& e) {
      spdlog::error("redis {}: {}", describe(), e.what());
    }
  });
}

// +switch-master: a master replaced while it stayed reachable would otherwise
// keep our link (and reads) until a write came back READONLY.
void RedisStore::master_switched(const std::string& host, int port) {
  if (endpoint_.host == host && endpoint_.port == port) return;
  if (state_ != LinkState::connecting && state_ != LinkState::handshaking &&
      state_ != LinkState::ready)
    return;  // the next attempt asks the sentinels anyway
  spdlog::info("redis {}: the sentinels switched the master to {}:{} (+switch-master)", describe(),
               host, port);
  drop_link("the sentinels switched the master (+switch-master)");
}

void RedisStore::located(SentinelAnswer answer) {
  if (!answer.master) return link_gone(answer.failure);
  const bool moved = endpoint_.host != answer.master->host || endpoint_.port != answer.master->port;
  if (moved && !endpoint_.host.empty()) {
    spdlog::info("redis {}: the sentinels name {} as master now (was {})", describe(),
                 answer.master->describe(), endpoint_.describe());
  }
  endpoint_ = std::move(*answer.master);
  connect_to(endpoint_);
}

void RedisStore::connect_to(const RedisEndpoint& endpoint) {
  state_ = LinkState::connecting;
  // hiredis resolves a host name with getaddrinfo (blocking): use an address or
  // an /etc/hosts name for a Redis that must never stall the loop.
  redisAsyncContext* context = endpoint.unix_socket
                                   ? redisAsyncConnectUnix(endpoint.path.c_str())
                                   : redisAsyncConnect(endpoint.host.c_str(), endpoint.port);
  if (context == nullptr) {
    link_gone("cannot allocate a hiredis context");
    return;
  }
  if (context->err != 0) {
    const std::string why = context->errstr;
    redisAsyncFree(context);
    link_gone(why);
    return;
  }
  context->data = this;
  auto adapter = RedisAsioAdapter::attach(io_, context);
  if (!adapter) {
    redisAsyncFree(context);
    link_gone("cannot watch the socket");
    return;
  }
  context_ = context;
  adapter_ = std::move(adapter);
  redisAsyncSetDisconnectCallback(context, &RedisStore::on_disconnect);
  // Arms the first write wait: writable = connect(2) finished (0.14 semantics).
  redisAsyncSetConnectCallback(context, &RedisStore::on_connect);
  link_deadline_ = Clock::now() + options_.connect_timeout;
  arm_timer();
}

void RedisStore::on_connect(const redisAsyncContext* context, int status) {
  auto* store = static_cast<RedisStore*>(context->data);
  if (store == nullptr || context != store->context_) return;
  try {
    if (status != REDIS_OK) {
      // hiredis frees the context when this returns.
      store->retired_adapter_ = std::move(store->adapter_);
      store->context_ = nullptr;
      store->link_gone(context->errstr);
      return;
    }
    store->state_ = LinkState::handshaking;
    store->link_deadline_ = Clock::now() + store->options_.command_timeout;
    for (const auto& command : redis_handshake_commands(store->endpoint_)) {
      std::vector<std::string_view> args(command.begin(), command.end());
      store->send(ReplyKind::handshake, 0, args);
    }
    // What the sentinels named may have been demoted since (a failover they
    // have not finished telling each other about): only a master will do.
    if (store->locator_) store->send(ReplyKind::handshake, kRoleCheck, {"ROLE"});
    // PING last: its answer proves the server works, not just that the kernel
    // accepted the connection.
    store->send(ReplyKind::handshake_done, 0, {"PING"});
    store->arm_timer();
  } catch (const std::exception& e) {
    spdlog::error("redis {}: {}", store->describe(), e.what());
  }
}

void RedisStore::on_disconnect(const redisAsyncContext* context, int /*status*/) {
  auto* store = static_cast<RedisStore*>(context->data);
  if (store == nullptr || context != store->context_) return;  // a drop we asked for
  try {
    store->retired_adapter_ = std::move(store->adapter_);
    store->context_ = nullptr;
    store->link_gone(context->err != 0 ? context->errstr : "closed by the server");
  } catch (const std::exception& e) {
    spdlog::error("redis {}: {}", store->describe(), e.what());
  }
}

// Never called from inside a hiredis callback: the context is freed here.
void RedisStore::drop_link(const std::string& why) {
  if (context_ == nullptr) return;
  auto* context = context_;
  context_ = nullptr;
  redisAsyncFree(context);
  retired_adapter_ = std::move(adapter_);
  link_gone(why);
}

// The context is gone (freed or about to be): requeue unacknowledged writes,
// log the outage once, and schedule the next attempt.
void RedisStore::link_gone(const std::string& why) {
  const bool was_ready = state_ == LinkState::ready;
  state_ = LinkState::down;
  last_failure_ = why;
  awaiting_reply_.clear();
  // SET and DEL are idempotent: resending what may have arrived is harmless.
  while (!in_flight_.empty()) {
    queue_.push_front(std::move(in_flight_.back().second));
    in_flight_.pop_back();
  }
  while (queue_.size() > options_.max_queued_writes) queue_.pop_front();
  if (stopping_) return;
  if (!outage_logged_) {
    outage_logged_ = true;
    if (was_ready || ever_connected_) {
      spdlog::warn(
          "redis {}: connection lost ({}); answering from memory, queueing writes and "
          "reconnecting",
          describe(), why);
    } else {
      spdlog::warn(
          "redis {}: cannot connect ({}); answering from memory, queueing writes and "
          "retrying",
          describe(), why);
    }
  } else {
    spdlog::debug("redis {}: connection attempt failed: {}", describe(), why);
  }
  if (was_ready) backoff_ = options_.reconnect_min;
  next_attempt_ = Clock::now() + backoff_;
  backoff_ = std::min(backoff_ * 2, options_.reconnect_max);
  arm_timer();
}

// ---- timers: connect/handshake deadline, reply watchdog, reconnect back-off --------

std::optional<RedisStore::Clock::time_point> RedisStore::next_deadline() const {
  switch (state_) {
    case LinkState::down:
      return next_attempt_;
    case LinkState::locating:
      return std::nullopt;  // the query's own timeouts bound it
    case LinkState::connecting:
    case LinkState::handshaking:
      return link_deadline_;
    case LinkState::ready:
      if (awaiting_reply_.empty()) return std::nullopt;
      return awaiting_reply_.front() + options_.command_timeout;
  }
  return std::nullopt;
}

void RedisStore::arm_timer() {
  if (stopping_) return;
  const auto deadline = next_deadline();
  if (!deadline) return;  // an armed timer just finds nothing to do
  timer_.arm(*deadline, alive_, [this] { on_timer(); });
}

void RedisStore::on_timer() {
  const auto now = Clock::now();
  switch (state_) {
    case LinkState::down:
      if (now >= next_attempt_) connect();
      break;
    case LinkState::locating:
      break;
    case LinkState::connecting:
      if (now >= link_deadline_) drop_link("connect timed out");
      break;
    case LinkState::handshaking:
      if (now >= link_deadline_) drop_link("no answer to PING");
      break;
    case LinkState::ready:
      // No reply at all for command_timeout: a stopped or unreachable server
      // that TCP has not noticed yet.
      if (!awaiting_reply_.empty() && now - awaiting_reply_.front() >= options_.command_timeout) {
        drop_link("no reply within " + std::to_string(options_.command_timeout.count()) + " ms");
      }
      break;
  }
  arm_timer();
}

// ---- commands and replies ------------------------------------------------------

bool RedisStore::send(ReplyKind kind, std::uint64_t id, const std::vector<std::string_view>& args) {
  if (context_ == nullptr) return false;
  std::vector<const char*> argv;
  std::vector<std::size_t> lengths;
  for (auto arg : args) {
    argv.push_back(arg.data());
    lengths.push_back(arg.size());
  }
  if (redisAsyncCommandArgv(
          context_, &RedisStore::on_reply, encode_privdata(id, static_cast<std::uintptr_t>(kind)),
          static_cast<int>(argv.size()), argv.data(), lengths.data()) != REDIS_OK) {
    return false;
  }
  awaiting_reply_.push_back(Clock::now());
  return true;
}

void RedisStore::on_reply(redisAsyncContext* context, void* reply, void* privdata) {
  auto* store = static_cast<RedisStore*>(context->data);
  if (store == nullptr) return;
  const auto bits = reinterpret_cast<std::uintptr_t>(privdata);
  try {
    store->handle_reply(context, static_cast<ReplyKind>(bits & 3), bits >> 2, reply);
  } catch (const std::exception& e) {
    spdlog::error("redis {}: {}", store->describe(), e.what());
  }
}

// A null reply means the context is being freed (lost or dropped link).
void RedisStore::handle_reply(redisAsyncContext* context, ReplyKind kind, std::uint64_t id,
                              void* raw) {
  const auto* reply = static_cast<const redisReply*>(raw);
  if (reply != nullptr && context == context_ && !awaiting_reply_.empty()) {
    awaiting_reply_.pop_front();
  }
  switch (kind) {
    case ReplyKind::fetch: {
      auto it = fetches_.find(id);
      if (it == fetches_.end()) return;  // already timed out
      RawRead read;
      if (reply == nullptr) {
        read.failure = "the connection was lost";
      } else if (reply->type == REDIS_REPLY_STRING) {
        read.value = std::string_view(reply->str, reply->len);
      } else if (reply->type == REDIS_REPLY_ERROR) {
        read.failure = "GET refused: " + reply_text(reply);
        spdlog::debug("redis {}: GET {}: {}", describe(), it->second.name, reply_text(reply));
      }
      finish_fetch(id, std::move(read));
      return;
    }
    case ReplyKind::write: {
      if (reply == nullptr || context != context_) return;  // requeued by link_gone
      auto it = std::find_if(in_flight_.begin(), in_flight_.end(),
                             [id](const auto& entry) { return entry.first == id; });
      if (reply->type == REDIS_REPLY_ERROR && locator_ &&
          std::string_view(reply->str, reply->len).starts_with("READONLY")) {
        // The master we write to was demoted (a failover): the write stays in
        // flight, so dropping the link requeues it in order, and the sentinels
        // are asked for the new master. Nothing else is sent on this link.
        if (state_ == LinkState::ready) {
          state_ = LinkState::connecting;
          link_deadline_ = Clock::now() + options_.command_timeout;
          boost::asio::post(io_, [this, alive = std::weak_ptr<int>(alive_)] {
            if (!alive.expired()) drop_link("the master became a replica (READONLY)");
          });
        }
        return;
      }
      if (it != in_flight_.end()) in_flight_.erase(it);
      if (reply->type == REDIS_REPLY_ERROR) {
        // Refused (out of memory, read-only replica...): retrying would not help.
        errors_.write();
        if (!write_failing_) {
          write_failing_ = true;
          spdlog::error("redis {}: write refused: {}", describe(), reply_text(reply));
        }
      } else if (write_failing_) {
        write_failing_ = false;
        spdlog::info("redis {}: writes accepted again", describe());
      }
      pump_writes();
      return;
    }
    case ReplyKind::handshake:
    case ReplyKind::handshake_done: {
      if (reply == nullptr || context != context_) return;
      std::string why;
      if (reply->type == REDIS_REPLY_ERROR) {
        why = "handshake refused: " + reply_text(reply);
      } else if (id == kRoleCheck) {
        const bool array = reply->type == REDIS_REPLY_ARRAY && reply->elements > 0 &&
                           reply->element[0]->type == REDIS_REPLY_STRING;
        const std::string role = array ? reply_text(reply->element[0]) : "no role";
        if (role != "master") why = endpoint_.describe() + " is not a master (ROLE: " + role + ")";
      }
      if (!why.empty()) {
        // A refused handshake is logged once per outage; a server that is not
        // the master (sentinel mode) once per streak too, even inside an outage
        // already logged: it says why the failover is not followed yet.
        if (!outage_logged_ || (id == kRoleCheck && !not_master_logged_)) {
          spdlog::error("redis {}: {}", describe(), why);
          if (id == kRoleCheck) not_master_logged_ = true;
        }
        outage_logged_ = true;
        // Not from inside hiredis's callback: the context is freed there.
        boost::asio::post(io_, [this, alive = std::weak_ptr<int>(alive_), why] {
          if (!alive.expired()) drop_link(why);
        });
        state_ = LinkState::connecting;  // nothing else is sent on this link
        return;
      }
      if (kind != ReplyKind::handshake_done || state_ != LinkState::handshaking) return;
      state_ = LinkState::ready;
      backoff_ = options_.reconnect_min;
      last_failure_.clear();
      not_master_logged_ = false;
      // With sentinels the server changes: say which one.
      const std::string at = locator_ ? " to " + endpoint_.describe() : "";
      if (outage_logged_) {
        spdlog::info("redis {}: connected again{}; sending {} queued writes", describe(), at,
                     queue_.size());
      } else if (!ever_connected_) {
        spdlog::info("redis {}: connected{}", describe(), at);
      }
      ever_connected_ = true;
      outage_logged_ = false;
      drops_logged_ = false;
      pump_writes();
      arm_timer();
      return;
    }
  }
}

void RedisStore::finish_fetch(std::uint64_t id, RawRead read) {
  auto node = fetches_.extract(id);
  if (node.empty()) return;
  auto& pending = node.mapped();
  if (pending.timer) pending.timer->cancel();
  if (stopping_) {
    // The owner is being torn down: never call back into it from its destructor.
    boost::asio::post(io_, [complete = std::move(pending.complete)] {
      complete({std::nullopt, "the store is shutting down"});
    });
    return;
  }
  if (!read.value && !read.failure.empty()) errors_.read();
  pending.complete(std::move(read));
}

// One GET under the short lookup deadline; complete runs exactly once.
void RedisStore::start_fetch(const std::string& key, const std::string& name,
                             FetchCompletion complete) {
  const std::uint64_t id = next_id_++;
  // Not before the handshake is done (the link may be up, the server not yet ours).
  if (state_ != LinkState::ready || !send(ReplyKind::fetch, id, {"GET", key})) {
    errors_.read();
    complete({std::nullopt,
              last_failure_.empty() ? "not connected" : "not connected: " + last_failure_});
    return;
  }
  auto timer = std::make_unique<boost::asio::steady_timer>(
      io_, std::min(options_.command_timeout, kFetchTimeoutCap));
  timer->async_wait([this, id,
                     alive = std::weak_ptr<int>(alive_)](const boost::system::error_code& ec) {
    if (alive.expired() || ec == boost::asio::error::operation_aborted) return;
    if (auto it = fetches_.find(id); it != fetches_.end()) {
      spdlog::debug("redis {}: lookup of '{}' timed out", describe(), it->second.name);
    }
    finish_fetch(id, {std::nullopt,
                      fmt::format("no reply within {} ms",
                                  std::min(options_.command_timeout, kFetchTimeoutCap).count())});
  });
  fetches_.emplace(id, PendingFetch{name, std::move(complete), std::move(timer)});
  arm_timer();
}

// ---- the PolicyStore operations ------------------------------------------------

// The completions below decode only a value handed over by handle_reply, so
// `this` is alive whenever they use it; teardown calls them with no value and a
// failure, which they word without `this` (the store may be gone by then).
void RedisStore::fetch(const std::string& domain, std::function<void(PolicyRead)> done) {
  if (domain.empty() || domain.size() > kMaxDomainLength) return done(PolicyRead::absent());
  start_fetch(options_.key_prefix + domain, domain,
              [this, domain, where = describe(), done = std::move(done)](RawRead read) {
                if (!read.value) {
                  if (read.failure.empty()) return done(PolicyRead::absent());
                  return done(PolicyRead::failed(fmt::format("redis {}: {}", where, read.failure)));
                }
                std::string why;
                auto policy = decode_redis_value(domain, *read.value, wall_clock_now(), why);
                // Read again on every memory miss: logged once.
                if (!policy && rejected_.first(options_.key_prefix + domain, why)) {
                  spdlog::warn("redis {}: ignoring unusable value for '{}': {}", describe(),
                               util::log_text(domain), why);
                }
                done(PolicyRead::answered(std::move(policy)));
              });
}

void RedisStore::fetch_dane(const std::string& destination, std::function<void(DaneRead)> done) {
  if (destination.empty() || destination.size() > kMaxDestinationLength) {
    return done(DaneRead::absent());
  }
  start_fetch(options_.dane_key_prefix + destination, destination,
              [this, destination, where = describe(), done = std::move(done)](RawRead read) {
                if (!read.value) {
                  if (read.failure.empty()) return done(DaneRead::absent());
                  return done(DaneRead::failed(fmt::format("redis {}: {}", where, read.failure)));
                }
                std::string why;
                auto dane =
                    decode_redis_dane_value(destination, *read.value, wall_clock_now(), why);
                if (!dane && rejected_.first(options_.dane_key_prefix + destination, why)) {
                  spdlog::warn("redis {}: ignoring unusable DANE value for '{}': {}", describe(),
                               util::log_text(destination), why);
                }
                done(DaneRead::answered(std::move(dane)));
              });
}

void RedisStore::save_dane(const CachedDane& dane) {
  if (dane.destination.empty() || dane.destination.size() > kMaxDestinationLength) return;
  Write write;
  write.key = options_.dane_key_prefix + dane.destination;
  // The key lives as long as the result may be used: past its expiry while
  // fresh lookups fail, until keep_until.
  write.expires_at = dane.keep_until;
  if (dane.keep_until <= unix_now()) {
    write.remove = true;  // nothing to keep; also removes an older copy
  } else {
    write.value = encode_redis_dane_value(dane);
  }
  enqueue(std::move(write));
}

void RedisStore::save(const CachedPolicy& policy) {
  if (policy.domain.empty() || policy.domain.size() > kMaxDomainLength) return;
  Write write;
  write.key = options_.key_prefix + policy.domain;
  write.expires_at = policy.expires_at;
  if (policy.expires_at <= unix_now()) {
    // Nothing to keep (RFC 8461 §5.1: an expired policy is not used); also
    // removes an older copy.
    write.remove = true;
  } else if (auto value = encode_redis_value(policy)) {
    write.value = std::move(*value);
  } else {
    spdlog::warn("redis {}: not saving '{}': its TXT id has a line end", describe(), policy.domain);
    return;
  }
  enqueue(std::move(write));
}

void RedisStore::remove(const std::string& domain) {
  if (domain.empty() || domain.size() > kMaxDestinationLength) return;
  Write write;
  write.remove = true;
  write.key = options_.key_prefix + domain;
  write.also_key = options_.dane_key_prefix + domain;
  enqueue(std::move(write));
}

void RedisStore::enqueue(Write write) {
  queue_.push_back(std::move(write));
  if (queue_.size() > options_.max_queued_writes) {
    queue_.pop_front();
    errors_.write();
    if (!drops_logged_) {
      drops_logged_ = true;
      spdlog::warn("redis {}: more than {} writes waiting; dropping the oldest", describe(),
                   options_.max_queued_writes);
    }
  }
  pump_writes();
}

// Sends queued writes while the link is up, keeping a bounded number unanswered
// so a slow server does not grow hiredis's buffers without limit.
void RedisStore::pump_writes() {
  while (state_ == LinkState::ready && !queue_.empty() && in_flight_.size() < kMaxWritesInFlight) {
    Write write = std::move(queue_.front());
    queue_.pop_front();
    send_write(std::move(write));
    if (state_ != LinkState::ready) break;
  }
  arm_timer();
}

void RedisStore::send_write(Write write) {
  const std::uint64_t id = next_id_++;
  // A write that waited past the key's expiry deletes instead (EXAT in the
  // past would be refused by older servers).
  if (!write.remove && write.expires_at <= unix_now()) write.remove = true;
  bool sent;
  if (write.remove && !write.also_key.empty()) {
    sent = send(ReplyKind::write, id, {"DEL", write.key, write.also_key});
  } else if (write.remove) {
    sent = send(ReplyKind::write, id, {"DEL", write.key});
  } else {
    const std::string expires = std::to_string(write.expires_at);
    sent = send(ReplyKind::write, id, {"SET", write.key, write.value, "EXAT", expires});
  }
  if (!sent) {
    queue_.push_front(std::move(write));
    return;
  }
  in_flight_.emplace_back(id, std::move(write));
}

bool RedisStore::load_all(const std::function<void(CachedPolicy)>& sink) {
  std::unordered_set<std::string> own;  // domains with a policy under our own key
  const bool complete =
      load_keys(LoadKind{options_.key_prefix, "policies", "value",
                         [&, now = wall_clock_now()](const std::string& domain,
                                                     std::string_view value, std::string& why) {
                           auto policy = decode_redis_value(domain, value, now, why);
                           if (!policy) return false;
                           own.insert(policy->domain);
                           sink(std::move(*policy));
                           return true;
                         }});
  if (!complete) errors_.read();
  // Then what postfix-mta-sts-resolver left on the same server (redis_takeover.hpp):
  // answered from now on, and written under our own key for the fleet.
  if (load_unreachable_at_) return false;
  std::string why;
  const auto endpoint = sync_endpoint(options_.connect_timeout, options_.command_timeout, why);
  if (!endpoint) {
    spdlog::warn("redis {}: not taking over postfix-mta-sts-resolver's keys: {}", describe(), why);
    errors_.read();
    return false;
  }
  RedisSyncClient client(*endpoint, options_.connect_timeout, options_.command_timeout);
  if (!client.ok()) {  // load_keys just read it: a moment's failure, logged there
    errors_.read();
    return false;
  }
  take_over_resolver_keys(
      client, describe(), options_.key_prefix, options_.dane_key_prefix, wall_clock_now(),
      [&](const std::string& domain) { return own.count(domain) > 0; },
      [&](CachedPolicy policy) {
        save(policy);
        sink(std::move(policy));
      });
  return complete;
}

void RedisStore::load_all_dane(const std::function<void(CachedDane)>& sink) {
  const bool complete =
      load_keys(LoadKind{options_.dane_key_prefix, "DANE results", "DANE value",
                         [&, now = wall_clock_now()](const std::string& destination,
                                                     std::string_view value, std::string& why) {
                           auto dane = decode_redis_dane_value(destination, value, now, why);
                           if (!dane) return false;
                           sink(std::move(*dane));
                           return true;
                         }});
  if (!complete) errors_.read();
}

bool RedisStore::load_keys(const LoadKind& kind) {
  const auto started = Clock::now();
  if (load_unreachable_at_ && started - *load_unreachable_at_ < kUnreachableMemory) {
    // The other start-up load just waited for this server in vain.
    spdlog::info("redis {}: not loading {} at start: unreachable moments ago", describe(),
                 kind.plural);
    return false;
  }
  // Bounded as a whole too, so a server that trickles replies cannot stall start-up.
  const auto budget = options_.connect_timeout + 6 * options_.command_timeout;
  std::string why;
  const auto endpoint = sync_endpoint(options_.connect_timeout, options_.command_timeout, why);
  std::optional<RedisSyncClient> client;
  if (endpoint) {
    client.emplace(*endpoint, options_.connect_timeout, options_.command_timeout);
    if (!client->ok()) why = client->error();
  }
  if (!client || !client->ok()) {
    load_unreachable_at_ = Clock::now();
    spdlog::warn("redis {}: cannot load {} at start ({}); starting with what memory has",
                 describe(), kind.plural, why);
    return false;
  }
  load_unreachable_at_.reset();
  const std::string pattern = glob_escape(kind.prefix) + "*";
  const std::string count = std::to_string(kScanCount);
  std::string cursor = "0";
  std::size_t loaded = 0, bad = 0, logged = 0;
  do {
    if (Clock::now() - started > budget) {
      spdlog::warn("redis {}: loading took too long; stopped after {} {}", describe(), loaded,
                   kind.plural);
      return false;
    }
    auto scan = client->command({"SCAN", cursor, "MATCH", pattern, "COUNT", count});
    if (!scan || scan->type != REDIS_REPLY_ARRAY || scan->elements != 2 ||
        scan->element[0]->type != REDIS_REPLY_STRING ||
        scan->element[1]->type != REDIS_REPLY_ARRAY) {
      spdlog::warn("redis {}: SCAN failed ({}); stopped after {} {}", describe(),
                   scan ? reply_text(scan.get()) : client->error(), loaded, kind.plural);
      return false;
    }
    cursor.assign(scan->element[0]->str, scan->element[0]->len);
    const redisReply* keys = scan->element[1];
    std::vector<std::string_view> mget{"MGET"};
    for (std::size_t i = 0; i < keys->elements; ++i) {
      const redisReply* key = keys->element[i];
      if (key->type == REDIS_REPLY_STRING && key->len > kind.prefix.size()) {
        mget.emplace_back(key->str, key->len);
      }
    }
    if (mget.size() == 1) continue;
    auto values = client->command(mget);
    if (!values || values->type != REDIS_REPLY_ARRAY || values->elements != mget.size() - 1) {
      spdlog::warn("redis {}: MGET failed ({}); stopped after {} {}", describe(),
                   values ? reply_text(values.get()) : client->error(), loaded, kind.plural);
      return false;
    }
    for (std::size_t i = 0; i < values->elements; ++i) {
      const redisReply* value = values->element[i];
      if (value->type != REDIS_REPLY_STRING) continue;  // expired or deleted since SCAN
      const std::string name(mget[i + 1].substr(kind.prefix.size()));
      std::string why;
      if (!kind.take(name, std::string_view(value->str, value->len), why)) {
        ++bad;
        if (logged < kMaxLoggedBadValues && rejected_.first(kind.prefix + name, why)) {
          ++logged;
          spdlog::warn("redis {}: skipping unusable {} for '{}': {}", describe(), kind.value,
                       util::log_text(name, kMaxDestinationLength), why);
        }
        continue;
      }
      ++loaded;
    }
  } while (cursor != "0");
  if (bad > kMaxLoggedBadValues) {
    spdlog::warn("redis {}: {} unusable {}s skipped in all", describe(), bad, kind.value);
  }
  spdlog::info("redis {}: loaded {} {}", describe(), loaded, kind.plural);
  return true;
}

std::optional<RedisEndpoint> RedisStore::sync_endpoint(std::chrono::milliseconds connect_timeout,
                                                       std::chrono::milliseconds command_timeout,
                                                       std::string& why) {
  if (!locator_) return endpoint_;
  auto answer = locator_->ask(connect_timeout, command_timeout);
  if (!answer.master) why = std::move(answer.failure);
  return std::move(answer.master);
}

// ---- flush ---------------------------------------------------------------------

void RedisStore::flush() {
  if (queue_.empty() && in_flight_.empty()) return;
  const auto deadline = Clock::now() + kFlushBudget;
  if (state_ == LinkState::ready) flush_live(deadline);
  if (!queue_.empty() && state_ != LinkState::ready) flush_blocking(deadline);
  if (const auto left = queue_.size() + in_flight_.size(); left > 0) {
    spdlog::warn("redis {}: {} writes not sent at shutdown", describe(), left);
  }
}

// Drives the live context by hand: the io_context cannot be run from one of its
// own handlers, and flush() may well be called from one.
void RedisStore::flush_live(Clock::time_point deadline) {
  while (state_ == LinkState::ready && context_ != nullptr &&
         (!queue_.empty() || !in_flight_.empty())) {
    const auto now = Clock::now();
    if (now >= deadline) return;
    pump_writes();
    pollfd pfd{};
    pfd.fd = context_->c.fd;
    pfd.events = static_cast<short>(POLLIN | (adapter_ && adapter_->wants_write() ? POLLOUT : 0));
    const auto wait =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - now).count() + 1;
    const int ready = ::poll(&pfd, 1, static_cast<int>(wait));
    if (ready < 0 && errno != EINTR) return;
    if (ready <= 0) continue;
    if ((pfd.revents & (POLLOUT | POLLERR | POLLHUP)) != 0 && adapter_ && adapter_->wants_write()) {
      redisAsyncHandleWrite(context_);  // may free the context: on_disconnect clears context_
    }
    if (context_ != nullptr && (pfd.revents & (POLLIN | POLLERR | POLLHUP)) != 0) {
      redisAsyncHandleRead(context_);
    }
  }
}

void RedisStore::flush_blocking(Clock::time_point deadline) {
  using std::chrono::milliseconds;
  const auto left = std::chrono::duration_cast<milliseconds>(deadline - Clock::now());
  if (left.count() <= 0) return;
  std::string why;
  const auto endpoint = sync_endpoint(std::min(options_.connect_timeout, left), left, why);
  if (!endpoint) {
    spdlog::warn("redis {}: cannot send the queued writes: {}", describe(), why);
    return;
  }
  const auto rest = std::chrono::duration_cast<milliseconds>(deadline - Clock::now());
  if (rest.count() <= 0) return;
  RedisSyncClient client(*endpoint, std::min(options_.connect_timeout, rest), rest);
  if (!client.ok()) return;
  const std::size_t count = queue_.size();
  std::vector<std::string> expires(count);
  for (std::size_t i = 0; i < count; ++i) {
    auto& write = queue_[i];
    if (!write.remove && write.expires_at <= unix_now()) write.remove = true;
    if (write.remove && !write.also_key.empty()) {
      client.append({"DEL", write.key, write.also_key});
    } else if (write.remove) {
      client.append({"DEL", write.key});
    } else {
      expires[i] = std::to_string(write.expires_at);
      client.append({"SET", write.key, write.value, "EXAT", expires[i]});
    }
  }
  for (std::size_t i = 0; i < count; ++i) {
    if (!client.next_reply()) return;  // the rest stay queued (and are reported)
    queue_.pop_front();
  }
}

}  // namespace mtasts::cache
