#pragma once
// HTTPS GET over libcurl's multi interface, driven by the daemon's Asio io_context.
#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <boost/asio/io_context.hpp>

namespace mtasts::http {

struct FetchRequest {
  std::string host;  // e.g. "mta-sts.example.com": SNI and certificate name
  std::string path = "/.well-known/mta-sts.txt";
  std::vector<std::string>
      addresses;  // resolved by our own DNS (CURLOPT_RESOLVE); never curl's resolver
  std::chrono::milliseconds timeout{60000};  // whole transfer
};

// What kind of failure a transfer ended with, for callers that class failures
// (RFC 8460 §4.3: a certificate the WebPKI does not vouch for is its own result type).
enum class FetchFailure { none, timeout, connect, tls_handshake, certificate, too_large, other };

struct FetchResult {
  bool transferred = false;  // a complete HTTP response was received within the limits
  long status = 0;           // HTTP status code (when transferred)
  std::string content_type;  // Content-Type header value, as sent
  std::string body;
  std::string error;  // when !transferred: e.g. "connect failed: ...", "TLS: certificate ...",
                      // "timeout after 10000 ms", "body exceeds 65536 bytes"
  FetchFailure failure = FetchFailure::none;
};

struct FetcherOptions {
  std::string
      ca_file;  // empty: the system bundle libcurl was built with (Debian: ca-certificates.crt)
  std::size_t max_body = 64 * 1024;  // RFC 8461 §3.3: larger bodies are invalid, not truncated
  std::uint16_t port = 443;
  std::size_t max_concurrent = 256;  // transfers beyond this wait in a bounded queue
};

class Fetcher {
 public:
  Fetcher(boost::asio::io_context& io, FetcherOptions options);
  ~Fetcher();
  Fetcher(const Fetcher&) = delete;
  Fetcher& operator=(const Fetcher&) = delete;

  // TLS >= 1.2, peer and host verification on, no redirects followed, no proxies,
  // no HTTP caching. done runs exactly once on the io_context thread.
  void fetch(FetchRequest request, std::function<void(FetchResult)> done);
  std::size_t pending() const;
  // A configuration reload: fetches started from now on trust this bundle
  // (empty: the system's). A new path is parsed at the next fetch; the same path
  // with new contents within curl's CA cache time (an hour).
  void set_ca_file(const std::string& ca_file);
  // A reload: transfers beyond the new limit wait; a raised one starts waiting ones.
  void set_max_concurrent(std::size_t max_concurrent);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace mtasts::http
