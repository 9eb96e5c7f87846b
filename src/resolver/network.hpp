#pragma once
// What the policy and DANE lifecycles ask of the network, as the lifecycle
// owns it: three DNS questions and one HTTPS GET. The daemon plugs in c-ares
// and libcurl (NetworkDns, NetworkHttps); unit tests plug in fakes. The
// result types are the adapters' plain structs, so nothing is translated twice.
#include <functional>
#include <string>

#include "dns/resolver.hpp"
#include "http/fetcher.hpp"

namespace mtasts::resolver {

class DnsPort {
 public:
  virtual ~DnsPort() = default;
  // Each callback runs exactly once, on the event loop thread.
  virtual void txt(const std::string& name, std::function<void(dns::TxtResult)> done) = 0;
  virtual void addresses(const std::string& name, std::function<void(dns::AddressResult)> done) = 0;
  // DNSSEC-aware (AD bit), CNAMEs followed: MX and TLSA for DANE (RFC 7672).
  virtual void secure(const std::string& name, int type,
                      std::function<void(dns::SecureResult)> done) = 0;
};

class HttpsPort {
 public:
  virtual ~HttpsPort() = default;
  virtual void fetch(http::FetchRequest request, std::function<void(http::FetchResult)> done) = 0;
};

class NetworkDns final : public DnsPort {
 public:
  explicit NetworkDns(dns::Resolver& resolver) : resolver_(resolver) {}
  void txt(const std::string& name, std::function<void(dns::TxtResult)> done) override {
    resolver_.query_txt(name, std::move(done));
  }
  void addresses(const std::string& name, std::function<void(dns::AddressResult)> done) override {
    resolver_.query_addresses(name, std::move(done));
  }
  void secure(const std::string& name, int type,
              std::function<void(dns::SecureResult)> done) override {
    resolver_.query_secure(name, type, std::move(done));
  }

 private:
  dns::Resolver& resolver_;
};

class NetworkHttps final : public HttpsPort {
 public:
  explicit NetworkHttps(http::Fetcher& fetcher) : fetcher_(fetcher) {}
  void fetch(http::FetchRequest request, std::function<void(http::FetchResult)> done) override {
    fetcher_.fetch(std::move(request), std::move(done));
  }

 private:
  http::Fetcher& fetcher_;
};

}  // namespace mtasts::resolver
