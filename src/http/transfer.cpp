#include "http/transfer.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <algorithm>
#include <cctype>
#include <cstring>
#include <string_view>

namespace mtasts::http {

std::string curl_default_ca_bundle() {
  CURL* easy = curl_easy_init();
  if (easy == nullptr) return {};
  char* path = nullptr;
  std::string bundle;
  if (curl_easy_getinfo(easy, CURLINFO_CAINFO, &path) == CURLE_OK && path != nullptr) {
    bundle = path;
  }
  curl_easy_cleanup(easy);
  return bundle;
}

namespace {

// How long a parsed CA bundle is reused: an updated ca-certificates package
// takes effect within this time, without a restart.
constexpr long kCaCacheSeconds = 3600;
constexpr std::size_t kMaxPathLength = 2048;

bool valid_host(std::string_view host) {
  if (host.empty() || host.size() > 253 || host.front() == '.' || host.back() == '.') return false;
  std::size_t label = 0;
  for (char c : host) {
    if (c == '.') {
      if (label == 0) return false;
      label = 0;
      continue;
    }
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-') return false;
    if (++label > 63) return false;
  }
  return true;
}

bool valid_path(std::string_view path) {
  if (path.empty() || path.front() != '/' || path.size() > kMaxPathLength) return false;
  return std::all_of(path.begin(), path.end(), [](char c) { return c > 0x20 && c < 0x7f; });
}

// Numeric address in canonical text form, nullopt when it is not one.
std::optional<std::string> normalise_address(const std::string& text, bool& v6) {
  unsigned char buf[sizeof(in6_addr)];
  char out[INET6_ADDRSTRLEN] = {};
  if (inet_pton(AF_INET, text.c_str(), buf) == 1) {
    v6 = false;
    return inet_ntop(AF_INET, buf, out, sizeof out);
  }
  if (inet_pton(AF_INET6, text.c_str(), buf) == 1) {
    v6 = true;
    return inet_ntop(AF_INET6, buf, out, sizeof out);
  }
  return std::nullopt;
}

std::optional<std::string> sockaddr_text(const sockaddr* sa) {
  char out[INET6_ADDRSTRLEN] = {};
  if (sa->sa_family == AF_INET) {
    const auto* in = reinterpret_cast<const sockaddr_in*>(sa);
    if (inet_ntop(AF_INET, &in->sin_addr, out, sizeof out)) return std::string(out);
  } else if (sa->sa_family == AF_INET6) {
    const auto* in6 = reinterpret_cast<const sockaddr_in6*>(sa);
    if (inet_ntop(AF_INET6, &in6->sin6_addr, out, sizeof out)) return std::string(out);
  }
  return std::nullopt;
}

std::string trim(std::string_view s) {
  const auto blank = [](char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; };
  while (!s.empty() && blank(s.front())) s.remove_prefix(1);
  while (!s.empty() && blank(s.back())) s.remove_suffix(1);
  return std::string(s);
}

bool starts_with_nocase(std::string_view s, std::string_view prefix) {
  if (s.size() < prefix.size()) return false;
  for (std::size_t i = 0; i < prefix.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(s[i])) != prefix[i]) return false;
  }
  return true;
}

}  // namespace

Transfer::Transfer(FetchRequest request, std::function<void(FetchResult)> done)
    : request_(std::move(request)), done_(std::move(done)) {}

Transfer::~Transfer() {
  if (easy_ != nullptr) curl_easy_cleanup(easy_);
  curl_slist_free_all(resolve_);
}

std::optional<std::string> Transfer::prepare(const FetcherOptions& options,
                                             curl_closesocket_callback close_socket,
                                             void* close_data) {
  if (request_.addresses.empty()) return "no address";
  if (!valid_host(request_.host)) return "invalid host name";
  if (!valid_path(request_.path)) return "invalid path";
  if (request_.timeout.count() <= 0) return "invalid timeout";
  max_body_ = options.max_body;
  port_ = options.port;

  // CURLOPT_RESOLVE pins the host to our own DNS answers, so curl's resolver
  // is never used; on_open_socket enforces the same list.
  std::string pinned = request_.host + ":" + std::to_string(port_) + ":";
  for (const auto& address : request_.addresses) {
    bool v6 = false;
    auto canonical = normalise_address(address, v6);
    if (!canonical) return "invalid address \"" + address.substr(0, 64) + "\"";
    if (allowed_.size() > 0) pinned += ',';
    pinned += v6 ? "[" + *canonical + "]" : *canonical;
    allowed_.push_back(std::move(*canonical));
  }
  resolve_ = curl_slist_append(nullptr, pinned.c_str());
  easy_ = curl_easy_init();
  if (resolve_ == nullptr || easy_ == nullptr) return "out of memory";

  std::string url = "https://" + request_.host;
  if (port_ != 443) url += ":" + std::to_string(port_);
  url += request_.path;
  const std::string user_agent = std::string("mta-stsd/") + MTASTSD_VERSION;
  const long timeout_ms = static_cast<long>(request_.timeout.count());

  CURLcode rc = CURLE_OK;
  const auto set = [&](CURLoption option, auto value) {
    if (rc == CURLE_OK) rc = curl_easy_setopt(easy_, option, value);
  };
  set(CURLOPT_URL, url.c_str());
  set(CURLOPT_PRIVATE, static_cast<void*>(this));
  set(CURLOPT_ERRORBUFFER, error_buffer_);
  set(CURLOPT_RESOLVE, resolve_);
  set(CURLOPT_OPENSOCKETFUNCTION, &Transfer::on_open_socket);
  set(CURLOPT_OPENSOCKETDATA, static_cast<void*>(this));
  set(CURLOPT_CLOSESOCKETFUNCTION, close_socket);
  set(CURLOPT_CLOSESOCKETDATA, close_data);
  set(CURLOPT_PROTOCOLS_STR, "https");
  set(CURLOPT_REDIR_PROTOCOLS_STR, "https");
  set(CURLOPT_FOLLOWLOCATION, 0L);  // RFC 8461 §3.3: redirects MUST NOT be followed
  set(CURLOPT_HTTP_VERSION, static_cast<long>(CURL_HTTP_VERSION_1_1));
  set(CURLOPT_SSLVERSION, static_cast<long>(CURL_SSLVERSION_TLSv1_2));  // minimum
  set(CURLOPT_SSL_VERIFYPEER, 1L);  // RFC 8461 §3.3: a valid certificate for the host
  set(CURLOPT_SSL_VERIFYHOST, 2L);
  if (!options.ca_file.empty()) {
    // One bundle file and no CA directory: the condition under which curl
    // (>= 7.87) keeps the parsed X509_STORE in the multi handle. With a CA
    // directory set, as Debian's default is, every fetch parsed the whole
    // bundle again (about 140 certificates) before its handshake.
    set(CURLOPT_CAINFO, options.ca_file.c_str());
    set(CURLOPT_CAPATH, static_cast<const char*>(nullptr));
    set(CURLOPT_CA_CACHE_TIMEOUT, kCaCacheSeconds);
  }
  set(CURLOPT_TIMEOUT_MS, timeout_ms);
  set(CURLOPT_CONNECTTIMEOUT_MS, timeout_ms);
  set(CURLOPT_NOSIGNAL, 1L);
  set(CURLOPT_PROXY, "");
  set(CURLOPT_NOPROXY, "*");
  set(CURLOPT_USERAGENT, user_agent.c_str());
  // Each policy host is fetched rarely; an idle connection cache only holds sockets.
  set(CURLOPT_FORBID_REUSE, 1L);
  set(CURLOPT_WRITEFUNCTION, &Transfer::on_body);
  set(CURLOPT_WRITEDATA, static_cast<void*>(this));
  set(CURLOPT_HEADERFUNCTION, &Transfer::on_header);
  set(CURLOPT_HEADERDATA, static_cast<void*>(this));
  set(CURLOPT_MAXFILESIZE_LARGE, static_cast<curl_off_t>(max_body_));
  if (rc != CURLE_OK) return std::string("curl setup failed: ") + curl_easy_strerror(rc);
  return std::nullopt;
}

// RFC 8461 §3.3: a body over the limit makes the policy invalid; stop reading.
std::size_t Transfer::on_body(char* data, std::size_t size, std::size_t count,
                              void* self) noexcept {
  auto* t = static_cast<Transfer*>(self);
  const std::size_t n = size * count;
  if (n > t->max_body_ - t->body_.size()) {
    t->abort_reason_ = "body exceeds " + std::to_string(t->max_body_) + " bytes";
    t->abort_failure_ = FetchFailure::too_large;
    return 0;
  }
  try {
    t->body_.append(data, n);
  } catch (const std::bad_alloc&) {
    t->abort_reason_ = "out of memory";
    return 0;
  }
  return n;
}

std::size_t Transfer::on_header(char* data, std::size_t size, std::size_t count,
                                void* self) noexcept {
  auto* t = static_cast<Transfer*>(self);
  const std::size_t n = size * count;
  t->header_bytes_ += n;
  if (t->header_bytes_ > kMaxHeaderBytes) {
    t->abort_reason_ = "headers too large";
    return 0;
  }
  try {
    const std::string_view line(data, n);
    if (starts_with_nocase(line, "http/")) {
      t->content_type_.clear();  // a new response (after 1xx): only the final one counts
    } else if (starts_with_nocase(line, "content-type:")) {
      t->content_type_ = trim(line.substr(13));
    }
  } catch (const std::bad_alloc&) {
    t->abort_reason_ = "out of memory";
    return 0;
  }
  return n;
}

curl_socket_t Transfer::on_open_socket(void* self, curlsocktype purpose,
                                       curl_sockaddr* address) noexcept {
  auto* t = static_cast<Transfer*>(self);
  if (purpose != CURLSOCKTYPE_IPCXN || address == nullptr) return CURL_SOCKET_BAD;
  try {
    auto text = sockaddr_text(&address->addr);
    if (!text) return CURL_SOCKET_BAD;
    t->last_address_ = address->family == AF_INET6 ? "[" + *text + "]" : *text;
    if (std::find(t->allowed_.begin(), t->allowed_.end(), *text) == t->allowed_.end()) {
      t->refused_ = "refusing to connect to " + t->last_address_ + ": not a resolved address";
      return CURL_SOCKET_BAD;
    }
  } catch (const std::bad_alloc&) {
    return CURL_SOCKET_BAD;
  }
  return ::socket(address->family, address->socktype | SOCK_CLOEXEC, address->protocol);
}

std::string Transfer::connect_error() const {
  if (!refused_.empty()) return refused_;
  long os_errno = 0;
  curl_easy_getinfo(easy_, CURLINFO_OS_ERRNO, &os_errno);
  const std::string where = last_address_.empty() ? request_.host : last_address_;
  const std::string why = os_errno != 0 ? std::strerror(static_cast<int>(os_errno))
                                        : (error_buffer_[0] ? error_buffer_ : "could not connect");
  return "connect to " + where + ":" + std::to_string(port_) + " failed: " + why;
}

FetchResult Transfer::result(CURLcode code) {
  FetchResult r;
  if (code == CURLE_OK) {
    r.transferred = true;
    curl_easy_getinfo(easy_, CURLINFO_RESPONSE_CODE, &r.status);
    r.content_type = std::move(content_type_);
    r.body = std::move(body_);
    return r;
  }
  const std::string detail = error_buffer_[0] ? error_buffer_ : curl_easy_strerror(code);
  if (!abort_reason_.empty()) {
    r.error = abort_reason_;
    r.failure = abort_failure_;
  } else {
    switch (code) {
      case CURLE_OPERATION_TIMEDOUT:
        r.error = "timeout after " + std::to_string(request_.timeout.count()) + " ms";
        r.failure = FetchFailure::timeout;
        break;
      case CURLE_COULDNT_CONNECT:
        r.error = connect_error();
        r.failure = FetchFailure::connect;
        break;
      case CURLE_PEER_FAILED_VERIFICATION:
        r.error = "TLS certificate verification failed: " + detail;
        r.failure = FetchFailure::certificate;
        break;
      case CURLE_SSL_CONNECT_ERROR:
        r.error = "TLS handshake failed: " + detail;
        r.failure = FetchFailure::tls_handshake;
        break;
      case CURLE_FILESIZE_EXCEEDED:
        r.error = "body exceeds " + std::to_string(max_body_) + " bytes";
        r.failure = FetchFailure::too_large;
        break;
      default:
        r.error = "fetch failed: " + detail;
        r.failure = FetchFailure::other;
        break;
    }
  }
  return r;
}

}  // namespace mtasts::http
