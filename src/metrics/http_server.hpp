#pragma once
// The metrics endpoint: a small HTTP/1.1 server on the daemon's io_context
// serving GET /metrics (http_exchange.hpp). It must never become a way to hurt
// the daemon: one request per connection, a bounded request head, a deadline
// for the whole exchange, and a cap on open connections (more are closed at
// once). Single-threaded: render runs on the thread that runs the io_context.
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include <boost/asio/io_context.hpp>

namespace mtasts::metrics {

struct HttpServerOptions {
  std::string address = "127.0.0.1";  // literal IPv4 or IPv6 address
  std::uint16_t port = 9461;          // 0: any free port (tests; see local_endpoint)
  std::size_t max_connections = 16;   // Prometheus keeps one per target
  // From accept to the last byte of the response: a client that trickles its
  // request or does not read the response loses its connection.
  std::chrono::milliseconds timeout{10000};
};

class HttpServer {
 public:
  using Render = std::function<std::string()>;
  HttpServer(boost::asio::io_context& io, HttpServerOptions options, Render render);
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // Binds and listens; throws std::runtime_error naming the address on failure.
  void start();
  // Stops accepting and closes every open connection.
  void stop();
  // "127.0.0.1:9461" or "[::1]:9461" once started.
  std::string local_endpoint() const;
  std::size_t connection_count() const;

  // Shared with the connections, so a late completion finds it alive (opaque).
  struct State;

 private:
  std::shared_ptr<State> state_;
};

}  // namespace mtasts::metrics
