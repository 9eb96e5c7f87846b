#include "cache/redis_asio_adapter.hpp"

#include <hiredis/async.h>

#include <spdlog/spdlog.h>

namespace mtasts::cache {

std::shared_ptr<RedisAsioAdapter> RedisAsioAdapter::attach(boost::asio::io_context& io,
                                                           redisAsyncContext* context) {
  if (context == nullptr || context->ev.data != nullptr || context->c.fd < 0) return nullptr;
  auto adapter = std::make_shared<RedisAsioAdapter>(io);
  boost::system::error_code ec;
  adapter->socket_.assign(context->c.fd, ec);
  if (ec) {
    spdlog::error("redis: cannot watch socket {}: {}", context->c.fd, ec.message());
    return nullptr;
  }
  adapter->context_ = context;
  context->ev.data = adapter.get();
  context->ev.addRead = &RedisAsioAdapter::add_read;
  context->ev.delRead = &RedisAsioAdapter::del_read;
  context->ev.addWrite = &RedisAsioAdapter::add_write;
  context->ev.delWrite = &RedisAsioAdapter::del_write;
  context->ev.cleanup = &RedisAsioAdapter::cleanup;
  return adapter;
}

// The hooks are called from C: nothing may throw out of them.
void RedisAsioAdapter::add_read(void* self) {
  auto* adapter = static_cast<RedisAsioAdapter*>(self);
  adapter->want_read_ = true;
  adapter->arm_read();
}

void RedisAsioAdapter::del_read(void* self) {
  static_cast<RedisAsioAdapter*>(self)->want_read_ = false;
}

void RedisAsioAdapter::add_write(void* self) {
  auto* adapter = static_cast<RedisAsioAdapter*>(self);
  adapter->want_write_ = true;
  adapter->arm_write();
}

void RedisAsioAdapter::del_write(void* self) {
  static_cast<RedisAsioAdapter*>(self)->want_write_ = false;
}

void RedisAsioAdapter::cleanup(void* self) {
  auto* adapter = static_cast<RedisAsioAdapter*>(self);
  adapter->context_ = nullptr;
  adapter->want_read_ = false;
  adapter->want_write_ = false;
  // Cancels the pending waits (they complete with operation_aborted) and hands
  // the fd back without closing it: redisFree closes it.
  if (adapter->socket_.is_open()) {
    try {
      adapter->socket_.release();
    } catch (const std::exception& e) {
      spdlog::error("redis: releasing the socket: {}", e.what());
    }
  }
}

// A wait stays armed across delRead/addRead pairs: it is re-armed only once it
// has completed, so hiredis's idempotent hooks never stack waits.
void RedisAsioAdapter::arm_read() {
  if (read_armed_ || context_ == nullptr) return;
  try {
    socket_.async_wait(boost::asio::posix::stream_descriptor::wait_read,
                       [self = shared_from_this()](const boost::system::error_code& ec) {
                         self->read_armed_ = false;
                         if (ec || self->context_ == nullptr || !self->want_read_) return;
                         // May free the context (disconnect): cleanup() clears context_.
                         redisAsyncHandleRead(self->context_);
                         if (self->context_ != nullptr && self->want_read_) self->arm_read();
                       });
    read_armed_ = true;
  } catch (const std::exception& e) {
    spdlog::error("redis: cannot wait on the socket: {}", e.what());
  }
}

void RedisAsioAdapter::arm_write() {
  if (write_armed_ || context_ == nullptr) return;
  try {
    socket_.async_wait(boost::asio::posix::stream_descriptor::wait_write,
                       [self = shared_from_this()](const boost::system::error_code& ec) {
                         self->write_armed_ = false;
                         if (ec || self->context_ == nullptr || !self->want_write_) return;
                         redisAsyncHandleWrite(self->context_);
                         if (self->context_ != nullptr && self->want_write_) self->arm_write();
                       });
    write_armed_ = true;
  } catch (const std::exception& e) {
    spdlog::error("redis: cannot wait on the socket: {}", e.what());
  }
}

}  // namespace mtasts::cache
