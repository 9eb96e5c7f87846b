#pragma once
// An HTTPS server on 127.0.0.1 for the fetcher tests, on its own io_context
// and thread. Each path has a fixed behaviour (see respond()).
#include <openssl/ssl.h>

#include <atomic>
#include <list>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/streambuf.hpp>
#include <boost/asio/write.hpp>

#include "test_certs.hpp"

namespace mtasts::http::testing {

inline constexpr const char* kPolicy =
    "version: STSv1\r\nmode: enforce\r\nmx: mail.example.com\r\nmax_age: 86400\r\n";

struct TlsOptions {
  bool tls11_only = false;  // a server that speaks nothing newer than TLS 1.1
};

class HttpsTestServer {
 public:
  HttpsTestServer(const ServerIdentity& identity, TlsOptions tls = {})
      : ssl_(boost::asio::ssl::context::tls_server), acceptor_(io_) {
    ssl_.use_certificate_chain(boost::asio::buffer(identity.cert_pem));
    ssl_.use_private_key(boost::asio::buffer(identity.key_pem), boost::asio::ssl::context::pem);
    if (tls.tls11_only) {
      SSL_CTX* ctx = ssl_.native_handle();
      SSL_CTX_set_security_level(ctx, 0);
      SSL_CTX_set_cipher_list(ctx, "DEFAULT:@SECLEVEL=0");
      SSL_CTX_set_min_proto_version(ctx, TLS1_1_VERSION);
      SSL_CTX_set_max_proto_version(ctx, TLS1_1_VERSION);
    }
    const boost::asio::ip::tcp::endpoint at(boost::asio::ip::make_address_v4("127.0.0.1"), 0);
    acceptor_.open(at.protocol());
    acceptor_.bind(at);
    acceptor_.listen();
    port_ = acceptor_.local_endpoint().port();
    accept();
    thread_ = std::thread([this] { io_.run(); });
  }

  ~HttpsTestServer() {
    io_.stop();
    thread_.join();
  }

  std::uint16_t port() const { return port_; }
  std::string last_request() {
    std::lock_guard lock(mutex_);
    return last_request_;
  }
  std::atomic<int> requests{0};

 private:
  using Stream = boost::asio::ssl::stream<boost::asio::ip::tcp::socket>;

  struct Session : std::enable_shared_from_this<Session> {
    Session(HttpsTestServer& s, boost::asio::ip::tcp::socket sock)
        : server(s), stream(std::move(sock), s.ssl_) {}
    HttpsTestServer& server;
    Stream stream;
    boost::asio::streambuf request{8192};
    std::string response;

    void start() {
      stream.async_handshake(boost::asio::ssl::stream_base::server,
                             [self = shared_from_this()](boost::system::error_code ec) {
                               if (!ec) self->read();
                             });
    }

    void read() {
      boost::asio::async_read_until(
          stream, request, "\r\n\r\n",
          [self = shared_from_this()](boost::system::error_code ec, std::size_t n) {
            if (ec) return;
            std::string head(
                boost::asio::buffers_begin(self->request.data()),
                boost::asio::buffers_begin(self->request.data()) + static_cast<long>(n));
            self->server.record(head);
            const auto path = head.substr(4, head.find(' ', 4) - 4);
            if (path == "/slow") {
              self->server.hold(self);  // never answers
              return;
            }
            self->response = respond(path);
            boost::asio::async_write(
                self->stream, boost::asio::buffer(self->response),
                [self](boost::system::error_code, std::size_t) {
                  self->stream.async_shutdown([self](boost::system::error_code) {});
                });
          });
    }
  };

  static std::string respond(const std::string& path) {
    const auto reply = [](const std::string& status, const std::string& headers,
                          const std::string& body) {
      return "HTTP/1.1 " + status + "\r\n" + headers +
             "Content-Length: " + std::to_string(body.size()) + "\r\nConnection: close\r\n\r\n" +
             body;
    };
    if (path == "/.well-known/mta-sts.txt") {
      return reply("200 OK", "Content-Type: text/plain; charset=utf-8\r\n", kPolicy);
    }
    if (path == "/moved") {
      return reply("301 Moved Permanently",
                   "Location: https://mta-sts.example.com/.well-known/mta-sts.txt\r\n"
                   "Content-Type: text/html\r\n",
                   "moved");
    }
    if (path == "/exact")
      return reply("200 OK", "Content-Type: text/plain\r\n", std::string(65536, 'x'));
    if (path == "/big")
      return reply("200 OK", "Content-Type: text/plain\r\n", std::string(65537, 'x'));
    if (path == "/big-chunked") {
      // No Content-Length: only the body callback can stop it.
      std::string out =
          "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\n"
          "Connection: close\r\n\r\n";
      for (int i = 0; i < 65; ++i) out += "400\r\n" + std::string(1024, 'y') + "\r\n";
      out += "1\r\nz\r\n0\r\n\r\n";
      return out;
    }
    if (path == "/headers") {
      std::string headers;
      for (int i = 0; i < 200; ++i)
        headers += "X-Filler-" + std::to_string(i) + ": " + std::string(100, 'h') + "\r\n";
      return reply("200 OK", headers, "ok");
    }
    return reply("404 Not Found", "Content-Type: text/html\r\n", "not here");
  }

  void record(const std::string& head) {
    ++requests;
    std::lock_guard lock(mutex_);
    last_request_ = head;
  }
  void hold(std::shared_ptr<Session> session) { held_.push_back(std::move(session)); }

  void accept() {
    acceptor_.async_accept([this](boost::system::error_code ec, boost::asio::ip::tcp::socket s) {
      if (ec) return;
      std::make_shared<Session>(*this, std::move(s))->start();
      accept();
    });
  }

  boost::asio::io_context io_;
  boost::asio::ssl::context ssl_;
  boost::asio::ip::tcp::acceptor acceptor_;
  std::uint16_t port_ = 0;
  std::mutex mutex_;
  std::string last_request_;
  std::list<std::shared_ptr<Session>> held_;  // server thread only
  std::thread thread_;
};

}  // namespace mtasts::http::testing
