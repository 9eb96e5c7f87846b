// The fetcher against an in-test HTTPS server on 127.0.0.1, with a CA made at
// test time.
#include <doctest/doctest.h>

#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <thread>

#include <boost/asio/io_context.hpp>

#include "http/fetcher.hpp"
#include "http/transfer.hpp"
#include "https_test_server.hpp"

namespace {

using namespace mtasts::http;
using namespace mtasts::http::testing;
using namespace std::chrono_literals;

constexpr const char* kHost = "mta-sts.example.com";

// One CA for the whole run, its certificate in a file for CURLOPT_CAINFO.
struct Pki {
  TestCa ca;
  std::filesystem::path ca_file;
  ServerIdentity good = ca.issue({kHost});
  ServerIdentity wrong_name = ca.issue({"wrong.example.net"});

  Pki() {
    ca_file = std::filesystem::temp_directory_path() /
              ("mtasts-test-ca-" + std::to_string(::getpid()) + ".pem");
    std::ofstream(ca_file) << ca.pem();
  }
  ~Pki() { std::filesystem::remove(ca_file); }
};

Pki& pki() {
  static Pki instance;
  return instance;
}

FetcherOptions options_for(std::uint16_t port) {
  FetcherOptions o;
  o.ca_file = pki().ca_file.string();
  o.port = port;
  return o;
}

FetchRequest request(const std::string& path, std::chrono::milliseconds timeout = 10s) {
  FetchRequest r;
  r.host = kHost;
  r.path = path;
  r.addresses = {"127.0.0.1"};
  r.timeout = timeout;
  return r;
}

// Runs the io_context until the fetch is done; checks done ran once, here.
FetchResult fetch_one(boost::asio::io_context& io, Fetcher& fetcher, FetchRequest req) {
  int calls = 0;
  FetchResult result;
  const auto me = std::this_thread::get_id();
  fetcher.fetch(std::move(req), [&](FetchResult r) {
    ++calls;
    CHECK(std::this_thread::get_id() == me);
    result = std::move(r);
  });
  io.restart();
  io.run();
  CHECK(calls == 1);
  CHECK(fetcher.pending() == 0);
  return result;
}

std::uint16_t closed_port() {
  boost::asio::io_context io;
  boost::asio::ip::tcp::acceptor a(io, {boost::asio::ip::make_address_v4("127.0.0.1"), 0});
  return a.local_endpoint().port();
}

}  // namespace

TEST_CASE("200 with its body and Content-Type; the request is a plain HTTP/1.1 GET") {
  HttpsTestServer server(pki().good);
  boost::asio::io_context io;
  Fetcher fetcher(io, options_for(server.port()));
  auto r = fetch_one(io, fetcher, request("/.well-known/mta-sts.txt"));
  CHECK(r.error == "");
  CHECK(r.transferred);
  CHECK(r.status == 200);
  CHECK(r.content_type == "text/plain; charset=utf-8");
  CHECK(r.body == kPolicy);
  const std::string head = server.last_request();
  CHECK(head.rfind("GET /.well-known/mta-sts.txt HTTP/1.1\r\n", 0) == 0);
  CHECK(head.find("Host: mta-sts.example.com:" + std::to_string(server.port())) !=
        std::string::npos);
  CHECK(head.find("User-Agent: mta-stsd/") != std::string::npos);
}

TEST_CASE("404 is returned as a status; 301 is not followed") {
  HttpsTestServer server(pki().good);
  boost::asio::io_context io;
  Fetcher fetcher(io, options_for(server.port()));
  auto missing = fetch_one(io, fetcher, request("/missing"));
  CHECK(missing.transferred);
  CHECK(missing.status == 404);
  CHECK(missing.body == "not here");

  auto moved = fetch_one(io, fetcher, request("/moved"));
  CHECK(moved.transferred);
  CHECK(moved.status == 301);
  CHECK(moved.content_type == "text/html");
  CHECK(server.requests == 2);
}

TEST_CASE("RFC 8461 §3.3: 64 KiB is the most, a larger body is an error") {
  HttpsTestServer server(pki().good);
  boost::asio::io_context io;
  Fetcher fetcher(io, options_for(server.port()));
  auto exact = fetch_one(io, fetcher, request("/exact"));
  CHECK(exact.transferred);
  CHECK(exact.body.size() == 65536);

  auto big = fetch_one(io, fetcher, request("/big"));
  CHECK_FALSE(big.transferred);
  CHECK(big.error == "body exceeds 65536 bytes");
  CHECK(big.body.empty());

  auto chunked = fetch_one(io, fetcher, request("/big-chunked"));
  CHECK_FALSE(chunked.transferred);
  CHECK(chunked.error == "body exceeds 65536 bytes");
}

TEST_CASE("oversized response headers are an error") {
  HttpsTestServer server(pki().good);
  boost::asio::io_context io;
  Fetcher fetcher(io, options_for(server.port()));
  auto r = fetch_one(io, fetcher, request("/headers"));
  CHECK_FALSE(r.transferred);
  CHECK(r.error == "headers too large");
}

TEST_CASE("a server that never answers times out") {
  HttpsTestServer server(pki().good);
  boost::asio::io_context io;
  Fetcher fetcher(io, options_for(server.port()));
  const auto start = std::chrono::steady_clock::now();
  auto r = fetch_one(io, fetcher, request("/slow", 300ms));
  const auto elapsed = std::chrono::steady_clock::now() - start;
  CHECK_FALSE(r.transferred);
  CHECK(r.error == "timeout after 300 ms");
  CHECK(elapsed >= 280ms);
  CHECK(elapsed < 3s);
}

TEST_CASE("certificates: wrong name and unknown CA fail verification") {
  HttpsTestServer wrong(pki().wrong_name);
  boost::asio::io_context io;
  {
    Fetcher fetcher(io, options_for(wrong.port()));
    auto r = fetch_one(io, fetcher, request("/.well-known/mta-sts.txt"));
    CHECK_FALSE(r.transferred);
    CHECK(r.error.rfind("TLS certificate verification failed: ", 0) == 0);
    CHECK(r.failure == FetchFailure::certificate);  // RFC 8460 §4.3: sts-webpki-invalid
    CHECK(r.error.find("mta-sts.example.com") != std::string::npos);
  }
  HttpsTestServer good(pki().good);
  {
    FetcherOptions o = options_for(good.port());
    o.ca_file.clear();  // the system store does not know the test CA
    Fetcher fetcher(io, o);
    auto r = fetch_one(io, fetcher, request("/.well-known/mta-sts.txt"));
    CHECK_FALSE(r.transferred);
    CHECK(r.error.rfind("TLS certificate verification failed: ", 0) == 0);
  }
  CHECK(wrong.requests == 0);
  CHECK(good.requests == 0);
}

TEST_CASE("a server limited to TLS 1.1 is refused") {
  HttpsTestServer server(pki().good, TlsOptions{true});
  boost::asio::io_context io;
  Fetcher fetcher(io, options_for(server.port()));
  auto r = fetch_one(io, fetcher, request("/.well-known/mta-sts.txt"));
  CHECK_FALSE(r.transferred);
  CHECK(r.error.rfind("TLS handshake failed: ", 0) == 0);
  CHECK(server.requests == 0);
}

TEST_CASE("connection refused, no address, bad requests") {
  boost::asio::io_context io;
  const auto port = closed_port();
  Fetcher fetcher(io, options_for(port));
  auto refused = fetch_one(io, fetcher, request("/.well-known/mta-sts.txt"));
  CHECK_FALSE(refused.transferred);
  CHECK(refused.error ==
        "connect to 127.0.0.1:" + std::to_string(port) + " failed: Connection refused");

  auto v6 = request("/.well-known/mta-sts.txt");
  v6.addresses = {"::1"};
  auto refused6 = fetch_one(io, fetcher, v6);
  CHECK_FALSE(refused6.transferred);
  CHECK(refused6.error.rfind("connect to [::1]:" + std::to_string(port) + " failed: ", 0) == 0);

  auto none = request("/.well-known/mta-sts.txt");
  none.addresses.clear();
  CHECK(fetch_one(io, fetcher, none).error == "no address");

  auto bad_address = request("/.well-known/mta-sts.txt");
  bad_address.addresses = {"127.0.0.1", "mta-sts.example.com"};
  CHECK(fetch_one(io, fetcher, bad_address).error == "invalid address \"mta-sts.example.com\"");

  auto bad_host = request("/.well-known/mta-sts.txt");
  bad_host.host = "evil.example/x@";
  CHECK(fetch_one(io, fetcher, bad_host).error == "invalid host name");

  auto bad_path = request("/a b\r\nX-Injected: 1");
  CHECK(fetch_one(io, fetcher, bad_path).error == "invalid path");
}

TEST_CASE("100 concurrent fetches all complete, at most max_concurrent at a time") {
  HttpsTestServer server(pki().good);
  boost::asio::io_context io;
  FetcherOptions o = options_for(server.port());
  o.max_concurrent = 8;
  Fetcher fetcher(io, o);
  int ok = 0, calls = 0;
  for (int i = 0; i < 100; ++i) {
    fetcher.fetch(request("/.well-known/mta-sts.txt"), [&](FetchResult r) {
      ++calls;
      if (r.transferred && r.status == 200 && r.body == kPolicy) ++ok;
    });
  }
  CHECK(fetcher.pending() == 100);
  io.run();
  CHECK(calls == 100);
  CHECK(ok == 100);
  CHECK(fetcher.pending() == 0);
  CHECK(server.requests == 100);
}

TEST_CASE("destroying the Fetcher completes running and queued fetches with \"shutdown\"") {
  HttpsTestServer server(pki().good);
  boost::asio::io_context io;
  int shutdown = 0;
  {
    FetcherOptions o = options_for(server.port());
    o.max_concurrent = 2;
    Fetcher fetcher(io, o);
    for (int i = 0; i < 5; ++i) {
      fetcher.fetch(request("/slow"), [&](FetchResult r) {
        CHECK_FALSE(r.transferred);
        if (r.error == "shutdown") ++shutdown;
      });
    }
    io.run_for(300ms);  // two are connected and waiting, three are queued
    CHECK(server.requests == 2);
    CHECK(shutdown == 0);
  }
  io.restart();
  io.run();
  CHECK(shutdown == 5);
}

TEST_CASE("the CA bundle is parsed once per Fetcher, not once per fetch") {
  // A copy of the test CA that is replaced, after the first fetch, by another
  // CA: the second fetch still verifies, so it used the store parsed first.
  TestCa other;
  const auto copy = std::filesystem::temp_directory_path() /
                    ("mtasts-test-ca-copy-" + std::to_string(::getpid()) + ".pem");
  std::ofstream(copy) << pki().ca.pem();
  HttpsTestServer server(pki().good);
  boost::asio::io_context io;
  FetcherOptions o = options_for(server.port());
  o.ca_file = copy.string();
  {
    Fetcher fetcher(io, o);
    CHECK(fetch_one(io, fetcher, request("/.well-known/mta-sts.txt")).status == 200);
    std::ofstream(copy, std::ios::trunc) << other.pem();
    auto again = fetch_one(io, fetcher, request("/.well-known/mta-sts.txt"));
    CHECK(again.error == "");
    CHECK(again.status == 200);
  }
  {
    Fetcher fresh(io, o);  // a new Fetcher reads the file as it is now
    auto r = fetch_one(io, fresh, request("/.well-known/mta-sts.txt"));
    CHECK_FALSE(r.transferred);
    CHECK(r.error.rfind("TLS certificate verification failed: ", 0) == 0);
  }
  std::filesystem::remove(copy);
}

TEST_CASE("without ca_file, the system bundle libcurl was built with is used as a file") {
  const std::string bundle = curl_default_ca_bundle();
  REQUIRE_FALSE(bundle.empty());  // Debian: /etc/ssl/certs/ca-certificates.crt
  CHECK(std::filesystem::exists(bundle));
}
