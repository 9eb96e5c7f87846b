#pragma once
// One HTTPS GET as RFC 8461 §3.3 wants it: TLS 1.2+, verified certificate for
// the policy host, no redirects, no proxy, curl never resolving names, and a
// body over the size limit is an error rather than truncated.
#include <curl/curl.h>

#include <cstddef>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "http/fetcher.hpp"

namespace mtasts::http {

// Response headers (all lines, all responses) beyond this abort the transfer.
inline constexpr std::size_t kMaxHeaderBytes = 16 * 1024;

class Transfer {
 public:
  Transfer(FetchRequest request, std::function<void(FetchResult)> done);
  ~Transfer();
  Transfer(const Transfer&) = delete;
  Transfer& operator=(const Transfer&) = delete;

  // Creates and configures the easy handle. Returns the error text when the
  // request cannot be sent ("no address", "invalid host", ...).
  // close_socket/close_data: CURLOPT_CLOSESOCKETFUNCTION and its data.
  std::optional<std::string> prepare(const FetcherOptions& options,
                                     curl_closesocket_callback close_socket, void* close_data);

  CURL* easy() const { return easy_; }
  // The outcome once curl finished with `code`.
  FetchResult result(CURLcode code);
  // Hands the completion callback to the caller (it runs exactly once).
  std::function<void(FetchResult)> take_done() { return std::move(done_); }

 private:
  static std::size_t on_body(char* data, std::size_t size, std::size_t count, void* self) noexcept;
  static std::size_t on_header(char* data, std::size_t size, std::size_t count,
                               void* self) noexcept;
  static curl_socket_t on_open_socket(void* self, curlsocktype purpose,
                                      curl_sockaddr* address) noexcept;
  std::string connect_error() const;

  FetchRequest request_;
  std::function<void(FetchResult)> done_;
  CURL* easy_ = nullptr;
  curl_slist* resolve_ = nullptr;
  char error_buffer_[CURL_ERROR_SIZE] = {};
  std::size_t max_body_ = 0;
  std::uint16_t port_ = 443;
  std::vector<std::string> allowed_;  // normalised addresses curl may connect to
  std::string last_address_;          // the address of the last connect attempt
  std::string body_;
  std::string content_type_;
  std::size_t header_bytes_ = 0;
  std::string abort_reason_;  // why the body or header callback stopped the transfer
  FetchFailure abort_failure_ = FetchFailure::other;
  std::string refused_;       // a connect attempt to an address not in the request
};

// libcurl's compiled-in CA bundle (CURLINFO_CAINFO; Debian:
// /etc/ssl/certs/ca-certificates.crt), or "" when it has none.
std::string curl_default_ca_bundle();

}  // namespace mtasts::http
