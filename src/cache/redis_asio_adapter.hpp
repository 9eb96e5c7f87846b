#pragma once
// Runs a hiredis 0.14 async context on a Boost.Asio io_context (hiredis ships
// adapters for libevent, libuv, ... but not Asio). hiredis tells us through its
// ev hooks when it wants to read or write; we wait for readiness on its socket
// with a stream_descriptor and call redisAsyncHandleRead/Write.
//
// hiredis owns and closes the socket: the descriptor is release()d (never
// closed) in the cleanup hook, which 0.14 may call more than once.
#include <memory>

#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>

struct redisAsyncContext;

namespace mtasts::cache {

class RedisAsioAdapter : public std::enable_shared_from_this<RedisAsioAdapter> {
 public:
  // Installs the hooks on `context` (whose socket must be open). Null on failure.
  // Keep the returned pointer until hiredis has freed the context: the hooks use it.
  static std::shared_ptr<RedisAsioAdapter> attach(boost::asio::io_context& io,
                                                  redisAsyncContext* context);

  explicit RedisAsioAdapter(boost::asio::io_context& io) : socket_(io) {}

  bool attached() const { return context_ != nullptr; }
  bool wants_write() const { return want_write_; }
  // Called when driving the context without the io_context (a bounded flush).
  redisAsyncContext* context() const { return context_; }

 private:
  static void add_read(void* self);
  static void del_read(void* self);
  static void add_write(void* self);
  static void del_write(void* self);
  static void cleanup(void* self);

  void arm_read();
  void arm_write();

  boost::asio::posix::stream_descriptor socket_;
  redisAsyncContext* context_ = nullptr;  // null once hiredis cleaned up
  bool want_read_ = false;
  bool want_write_ = false;
  bool read_armed_ = false;
  bool write_armed_ = false;
};

}  // namespace mtasts::cache
