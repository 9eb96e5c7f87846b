#include "metrics/http_server.hpp"

#include <spdlog/spdlog.h>
#include <boost/asio/buffer.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ip/v6_only.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/streambuf.hpp>
#include <boost/asio/write.hpp>
#include <stdexcept>
#include <unordered_set>

#include "metrics/http_exchange.hpp"

namespace mtasts::metrics {

namespace asio = boost::asio;
using asio::ip::tcp;
using boost::system::error_code;

namespace {

// After an accept error such as EMFILE the connection stays queued and the
// acceptor readable: retrying at once would spin.
constexpr std::chrono::milliseconds kAcceptRetry{100};

std::string describe(const tcp::endpoint& endpoint) {
  const auto address = endpoint.address();
  return address.is_v6() ? fmt::format("[{}]:{}", address.to_string(), endpoint.port())
                         : fmt::format("{}:{}", address.to_string(), endpoint.port());
}

}  // namespace

// Not in the anonymous namespace: State (of the header's HttpServer) holds pointers to it.
namespace detail {
class Session;
}  // namespace detail
using detail::Session;

struct HttpServer::State {
  State(asio::io_context& io_context, HttpServerOptions server_options, Render render_fn)
      : io(io_context),
        options(std::move(server_options)),
        render(std::move(render_fn)),
        acceptor(io_context),
        retry(io_context) {}

  asio::io_context& io;
  const HttpServerOptions options;
  Render render;  // empty once the server is gone: late completions answer nothing
  tcp::acceptor acceptor;
  asio::steady_timer retry;
  std::unordered_set<Session*> sessions;
  std::string name;
};

namespace detail {

class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(std::shared_ptr<HttpServer::State> state, tcp::socket socket)
      : state_(std::move(state)),
        socket_(std::move(socket)),
        deadline_(state_->io),
        request_(kMaxRequestHead) {}
  ~Session() {
    if (!closed_) state_->sessions.erase(this);
  }

  void start() {
    state_->sessions.insert(this);
    deadline_.expires_after(state_->options.timeout);
    deadline_.async_wait([self = shared_from_this()](const error_code& ec) {
      if (!ec) self->close();
    });
    asio::async_read_until(socket_, request_, "\r\n\r\n",
                           [self = shared_from_this()](const error_code& ec, std::size_t length) {
                             self->on_read(ec, length);
                           });
  }

  void close() {
    if (closed_) return;
    closed_ = true;
    error_code ignored;
    socket_.close(ignored);
    deadline_.cancel();
    state_->sessions.erase(this);
  }

 private:
  void on_read(const error_code& ec, std::size_t length) {
    if (closed_) return;
    if (ec == asio::error::not_found) {
      response_ = respond_too_large();  // the head filled the buffer without ending
    } else if (ec || !state_->render) {
      return close();
    } else {
      const auto data = request_.data();
      const std::string head(asio::buffers_begin(data), asio::buffers_begin(data) + length);
      response_ = respond(head, state_->render);
    }
    asio::async_write(socket_, asio::buffer(response_),
                      [self = shared_from_this()](const error_code& write_ec, std::size_t) {
                        if (!write_ec && !self->closed_) {
                          error_code ignored;
                          self->socket_.shutdown(tcp::socket::shutdown_send, ignored);
                        }
                        self->close();
                      });
  }

  std::shared_ptr<HttpServer::State> state_;
  tcp::socket socket_;
  asio::steady_timer deadline_;
  asio::streambuf request_;  // bounded: read_until fails with not_found when full
  std::string response_;
  bool closed_ = false;
};

}  // namespace detail

namespace {

void accept_next(const std::shared_ptr<HttpServer::State>& state);

void on_accept(const std::shared_ptr<HttpServer::State>& state, const error_code& ec,
               tcp::socket socket) {
  if (ec == asio::error::operation_aborted || !state->render || !state->acceptor.is_open()) return;
  if (ec) {
    spdlog::debug("metrics: accept on {} failed: {}", state->name, ec.message());
    state->retry.expires_after(kAcceptRetry);
    state->retry.async_wait([state](const error_code& wait_ec) {
      if (!wait_ec && state->acceptor.is_open()) accept_next(state);
    });
    return;
  }
  if (state->sessions.size() >= state->options.max_connections) {
    error_code ignored;
    socket.close(ignored);  // over the cap: scrapers retry, a flood gets nothing
  } else {
    std::make_shared<Session>(state, std::move(socket))->start();
  }
  accept_next(state);
}

void accept_next(const std::shared_ptr<HttpServer::State>& state) {
  state->acceptor.async_accept([state](const error_code& ec, tcp::socket socket) {
    on_accept(state, ec, std::move(socket));
  });
}

}  // namespace

HttpServer::HttpServer(asio::io_context& io, HttpServerOptions options, Render render)
    : state_(std::make_shared<State>(io, std::move(options), std::move(render))) {}

HttpServer::~HttpServer() {
  stop();
  state_->render = nullptr;
}

void HttpServer::start() {
  auto& state = *state_;
  error_code ec;
  const auto address = asio::ip::make_address(state.options.address, ec);
  const std::string wanted = fmt::format("{}:{}", state.options.address, state.options.port);
  if (ec) throw std::runtime_error(fmt::format("metrics: invalid address '{}'", wanted));
  const tcp::endpoint endpoint(address, state.options.port);
  auto fail = [&](std::string_view what) {
    error_code ignored;
    state.acceptor.close(ignored);
    return std::runtime_error(
        fmt::format("metrics: cannot {} {}: {}", what, describe(endpoint), ec.message()));
  };
  state.acceptor.open(endpoint.protocol(), ec);
  if (ec) throw fail("open a socket for");
  state.acceptor.set_option(tcp::acceptor::reuse_address(true), ec);
  if (address.is_v6()) state.acceptor.set_option(asio::ip::v6_only(true), ec);
  state.acceptor.bind(endpoint, ec);
  if (ec) throw fail("bind");
  state.acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) throw fail("listen on");
  state.name = describe(state.acceptor.local_endpoint(ec));
  accept_next(state_);
}

void HttpServer::stop() {
  auto& state = *state_;
  error_code ignored;
  state.acceptor.close(ignored);
  state.retry.cancel();
  // close() removes the session from the set.
  std::vector<std::shared_ptr<Session>> open;
  for (Session* session : state.sessions) open.push_back(session->shared_from_this());
  for (const auto& session : open) session->close();
}

std::string HttpServer::local_endpoint() const { return state_->name; }

std::size_t HttpServer::connection_count() const { return state_->sessions.size(); }

}  // namespace mtasts::metrics
