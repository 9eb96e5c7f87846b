#include "resolver/discovery.hpp"

#include <fmt/format.h>

#include "sts/content_type.hpp"
#include "sts/txt_record.hpp"

namespace mtasts::resolver {

std::string_view to_string(DiscoveryResult::Outcome outcome) {
  switch (outcome) {
    case DiscoveryResult::Outcome::policy:
      return "policy";
    case DiscoveryResult::Outcome::unchanged:
      return "unchanged";
    case DiscoveryResult::Outcome::no_policy:
      return "no-policy";
    case DiscoveryResult::Outcome::fetch_failed:
      return "fetch-failed";
    case DiscoveryResult::Outcome::temp_failure:
      return "temp-failure";
  }
  return "?";
}

std::string_view to_string(DiscoveryFailure failure) {
  switch (failure) {
    case DiscoveryFailure::none:
      return "none";
    case DiscoveryFailure::dns_timeout:
      return "dns-timeout";
    case DiscoveryFailure::dns_servfail:
      return "dns-servfail";
    case DiscoveryFailure::dns_other:
      return "dns-other";
    case DiscoveryFailure::policy_host_nxdomain:
      return "policy-host-nxdomain";
    case DiscoveryFailure::sts_policy_fetch_error:
      return "sts-policy-fetch-error";
    case DiscoveryFailure::sts_policy_invalid:
      return "sts-policy-invalid";
    case DiscoveryFailure::sts_webpki_invalid:
      return "sts-webpki-invalid";
    case DiscoveryFailure::count:
      break;
  }
  return "?";
}

namespace {

DiscoveryFailure dns_failure(dns::Cause cause) {
  switch (cause) {
    case dns::Cause::timeout:
      return DiscoveryFailure::dns_timeout;
    case dns::Cause::servfail:
      return DiscoveryFailure::dns_servfail;
    default:
      return DiscoveryFailure::dns_other;
  }
}

// State shared by the steps of one discovery; the callbacks keep it alive.
struct DiscoveryRun {
  DnsPort& dns;
  HttpsPort& https;
  std::string domain;
  std::string known_id;
  DiscoveryOptions options;
  std::function<void(DiscoveryResult)> done;
  DiscoveryResult result;
  using Time = std::chrono::steady_clock::time_point;
  Time started{}, fetch_started{};

  Time now() const { return options.clock ? options.clock() : Time{}; }
  void fetching() { fetch_started = now(); }
  void finish(DiscoveryResult::Outcome outcome, std::string reason,
              DiscoveryFailure failure = DiscoveryFailure::none) {
    result.outcome = outcome;
    result.reason = std::move(reason);
    result.failure = failure;
    const Time end = now();
    const Time dns_end = fetch_started != Time{} ? fetch_started : end;
    result.dns_time = dns_end - started;
    if (fetch_started != Time{}) result.https_time = end - fetch_started;
    auto callback = std::move(done);
    callback(std::move(result));
  }
  void step(std::string name, bool ok, std::string detail) {
    result.steps.push_back({std::move(name), ok, std::move(detail)});
  }
};

void fetch_policy(const std::shared_ptr<DiscoveryRun>& run, std::vector<std::string> addresses);

void on_txt(const std::shared_ptr<DiscoveryRun>& run, dns::TxtResult txt) {
  const std::string qname = "_mta-sts." + run->domain;
  if (txt.status == dns::Status::temp_fail) {
    run->step("txt", false, fmt::format("{}: temporary failure: {}", qname, txt.error));
    return run->finish(DiscoveryResult::Outcome::temp_failure,
                       fmt::format("TXT lookup of {} failed: {}", qname, txt.error),
                       dns_failure(txt.cause));
  }
  if (txt.status == dns::Status::no_data) {
    run->step("txt", false,
              fmt::format("{}: {}", qname, txt.error.empty() ? "no record" : txt.error));
    return run->finish(DiscoveryResult::Outcome::no_policy,
                       fmt::format("no TXT record at {}", qname));
  }
  // §3.1: records without the STSv1 prefix are discarded; exactly one must remain.
  auto parsed = sts::select_txt_record(txt.records);
  if (!parsed.record) {
    run->step("txt", false, fmt::format("{}: {}", qname, parsed.error));
    return run->finish(DiscoveryResult::Outcome::no_policy,
                       fmt::format("unusable TXT record at {}: {}", qname, parsed.error));
  }
  run->result.txt_id = parsed.record->id;
  run->step("txt", true, fmt::format("{}: id={}", qname, parsed.record->id));
  // §3.1/§5.1: the id tells whether the published policy changed since we fetched it.
  if (!run->known_id.empty() && run->known_id == parsed.record->id) {
    return run->finish(DiscoveryResult::Outcome::unchanged, "policy id unchanged");
  }
  const std::string host = "mta-sts." + run->domain;
  // One resolver for everything: libcurl gets the addresses we resolved.
  run->dns.addresses(host, [run, host](dns::AddressResult addresses) {
    if (addresses.status != dns::Status::ok || addresses.addresses.empty()) {
      const std::string why =
          addresses.status == dns::Status::no_data ? "no address record" : addresses.error;
      run->step("address", false, fmt::format("{}: {}", host, why));
      return run->finish(DiscoveryResult::Outcome::fetch_failed,
                         fmt::format("cannot resolve policy host {}: {}", host, why),
                         addresses.status == dns::Status::no_data
                             ? DiscoveryFailure::policy_host_nxdomain
                             : dns_failure(addresses.cause));
    }
    std::string list;
    for (const auto& a : addresses.addresses) {
      list += list.empty() ? a : " " + a;
    }
    run->step("address", true, fmt::format("{}: {}", host, list));
    run->fetching();
    fetch_policy(run, std::move(addresses.addresses));
  });
}

void fetch_policy(const std::shared_ptr<DiscoveryRun>& run, std::vector<std::string> addresses) {
  http::FetchRequest request;
  request.host = "mta-sts." + run->domain;  // §3.2: the policy host; also SNI and cert name (§3.3)
  request.addresses = std::move(addresses);
  request.timeout = run->options.fetch_timeout;
  const std::string url = fmt::format("https://{}{}", request.host, request.path);
  run->https.fetch(std::move(request), [run, url](http::FetchResult fetched) {
    if (!fetched.transferred) {
      run->step("fetch", false, fmt::format("{}: {}", url, fetched.error));
      // RFC 8460 §4.3: a certificate the WebPKI does not vouch for is sts-webpki-invalid.
      return run->finish(DiscoveryResult::Outcome::fetch_failed,
                         fmt::format("fetching {} failed: {}", url, fetched.error),
                         fetched.failure == http::FetchFailure::certificate
                             ? DiscoveryFailure::sts_webpki_invalid
                             : DiscoveryFailure::sts_policy_fetch_error);
    }
    // §3.3: only 200 is a policy; redirects are not followed.
    if (fetched.status != 200) {
      run->step("fetch", false, fmt::format("{}: HTTP {}", url, fetched.status));
      return run->finish(DiscoveryResult::Outcome::fetch_failed,
                         fmt::format("fetching {} failed: HTTP status {}", url, fetched.status),
                         DiscoveryFailure::sts_policy_fetch_error);
    }
    // §3.2: the policy is served as text/plain.
    if (!sts::is_text_plain(fetched.content_type)) {
      run->step("fetch", false,
                fmt::format("{}: HTTP 200 but Content-Type '{}'", url, fetched.content_type));
      return run->finish(
          DiscoveryResult::Outcome::fetch_failed,
          fmt::format("{} has Content-Type '{}', not text/plain", url, fetched.content_type),
          DiscoveryFailure::sts_policy_fetch_error);
    }
    run->step(
        "fetch", true,
        fmt::format("{}: HTTP 200, {} bytes, {}", url, fetched.body.size(), fetched.content_type));
    auto parsed = sts::parse_policy(fetched.body);
    if (!parsed.policy) {
      run->step("policy", false, parsed.error);
      return run->finish(DiscoveryResult::Outcome::fetch_failed,
                         fmt::format("invalid policy at {}: {}", url, parsed.error),
                         DiscoveryFailure::sts_policy_invalid);
    }
    std::string mx;
    for (const auto& p : parsed.policy->mx) {
      mx += mx.empty() ? p : " " + p;
    }
    run->step("policy", true,
              fmt::format("mode={} max_age={} mx={}", sts::to_string(parsed.policy->mode),
                          parsed.policy->max_age, mx.empty() ? "(none)" : mx));
    run->result.body = std::move(fetched.body);
    run->result.policy = std::move(parsed.policy);
    run->finish(DiscoveryResult::Outcome::policy, "policy fetched");
  });
}

}  // namespace

void discover(DnsPort& dns, HttpsPort& https, const std::string& domain,
              const std::string& known_id, const DiscoveryOptions& options,
              std::function<void(DiscoveryResult)> done) {
  auto run = std::make_shared<DiscoveryRun>(
      DiscoveryRun{dns, https, domain, known_id, options, std::move(done), {}, {}, {}});
  run->started = run->now();
  // §3.1: the TXT record lives at _mta-sts.DOMAIN; CNAMEs are followed by the DNS layer.
  dns.txt("_mta-sts." + domain, [run](dns::TxtResult txt) { on_txt(run, std::move(txt)); });
}

}  // namespace mtasts::resolver
