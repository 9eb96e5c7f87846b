#include "dane/verdict.hpp"

#include <fmt/format.h>

namespace mtasts::dane {

const char* to_string(HostTlsa::State state) {
  switch (state) {
    case HostTlsa::State::usable:
      return "usable";
    case HostTlsa::State::unusable:
      return "unusable";
    case HostTlsa::State::none:
      return "none";
    case HostTlsa::State::insecure:
      return "insecure";
    case HostTlsa::State::failed:
      return "failed";
  }
  return "failed";
}

const char* to_string(Verdict verdict) {
  switch (verdict) {
    case Verdict::none:
      return "none";
    case Verdict::dane:
      return "dane";
    case Verdict::dane_only:
      return "dane-only";
    case Verdict::temp:
      return "temp";
  }
  return "temp";
}

Verdict evaluate(const Evidence& e) {
  // RFC 7505: a null MX accepts no mail; there is nothing for DANE to protect.
  if (e.null_mx || e.hosts.empty()) return Verdict::none;
  std::size_t usable_hosts = 0, secure_tlsa = 0, failed = 0;
  for (const auto& h : e.hosts) {
    switch (h.state) {
      case HostTlsa::State::usable:
        ++usable_hosts;
        ++secure_tlsa;
        break;
      case HostTlsa::State::unusable:
        ++secure_tlsa;
        break;
      case HostTlsa::State::failed:
        ++failed;
        break;
      case HostTlsa::State::none:
      case HostTlsa::State::insecure:
        break;
    }
  }
  // RFC 7672 §2.2.1: mandatory DANE needs a secure MX RRset and usable TLSA at
  // every host that may be tried; a skipped host is an unknown one.
  if (e.mx_secure && e.skipped == 0 && usable_hosts == e.hosts.size()) return Verdict::dane_only;
  if (failed == e.hosts.size()) return Verdict::temp;
  // Partial DANE: Postfix's "dane" looks TLSA up per host itself (usable ->
  // authenticated, unusable -> encrypt, none -> may). A host whose lookup
  // failed next to hosts that answered is Postfix's to defer, not a reason to
  // defer the whole domain.
  if (secure_tlsa > 0 || failed > 0) return Verdict::dane;
  return Verdict::none;
}

Level level_of(Verdict verdict) {
  switch (verdict) {
    case Verdict::dane_only:
      return Level::dane_only;
    case Verdict::dane:
      return Level::dane;
    case Verdict::none:
    case Verdict::temp:
      return Level::none;
  }
  return Level::none;
}

std::string summarize(const Evidence& e) {
  std::string out = e.null_mx ? "null MX" : e.implicit_mx ? "no MX (implicit)" : "MX";
  out += e.mx_secure ? " secure" : " insecure";
  for (const auto& h : e.hosts) {
    out += "; ";
    out += h.host;
    out += ' ';
    out += to_string(h.state);
    if (h.state == HostTlsa::State::failed && !h.error.empty())
      out += fmt::format(" ({})", h.error);
    if (!h.records.empty()) {
      // The first record is enough for a log line; mta-stsctl resolve shows all.
      std::string first = to_text(h.records.front());
      if (first.size() > 24) first = fmt::format("{}...", first.substr(0, 24));
      out += fmt::format(" ({}", first);
      if (h.records.size() > 1) out += fmt::format(" +{}", h.records.size() - 1);
      out += ")";
    }
  }
  if (e.skipped > 0) out += fmt::format("; {} more MX not examined", e.skipped);
  return out;
}

}  // namespace mtasts::dane
