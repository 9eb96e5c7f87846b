#include "dns/message.hpp"

#include <arpa/inet.h>
#include "dns/ldns.hpp"

#include <algorithm>
#include <cstdlib>
#include <memory>

namespace mtasts::dns {
namespace {

struct PktFree {
  void operator()(ldns_pkt* p) const { ldns_pkt_free(p); }
};
struct RdfFree {
  void operator()(ldns_rdf* r) const { ldns_rdf_deep_free(r); }
};
struct CFree {
  void operator()(void* p) const { std::free(p); }
};
using PktPtr = std::unique_ptr<ldns_pkt, PktFree>;
using RdfPtr = std::unique_ptr<ldns_rdf, RdfFree>;

std::optional<std::string> dname_text(const ldns_rdf* dname) {
  if (dname == nullptr || ldns_rdf_get_type(dname) != LDNS_RDF_TYPE_DNAME) return std::nullopt;
  RdfPtr copy(ldns_rdf_clone(dname));
  if (!copy) return std::nullopt;
  ldns_dname2canonical(copy.get());
  std::unique_ptr<char, CFree> text(ldns_rdf2str(copy.get()));
  if (!text) return std::nullopt;
  std::string s(text.get());
  if (s.size() > 1 && s.back() == '.') s.pop_back();
  return s;
}

Answer fail(std::string error) {
  Answer a;
  a.outcome = {Status::temp_fail, std::move(error), Cause::malformed};
  return a;
}

PktPtr parse(const std::vector<unsigned char>& message, std::string& error) {
  ldns_pkt* raw = nullptr;
  const ldns_status st = ldns_wire2pkt(&raw, message.data(), message.size());
  if (st != LDNS_STATUS_OK) {
    error = std::string("malformed answer: ") + ldns_get_errorstr_by_id(st);
    ldns_pkt_free(raw);
    return nullptr;
  }
  return PktPtr(raw);
}

// TXT: each character-string is a length byte and that many bytes.
std::optional<std::string> txt_data(const ldns_rr* rr) {
  std::string out;
  for (std::size_t i = 0; i < ldns_rr_rd_count(rr); ++i) {
    const ldns_rdf* f = ldns_rr_rdf(rr, i);
    if (f == nullptr || ldns_rdf_get_type(f) != LDNS_RDF_TYPE_STR) return std::nullopt;
    const std::size_t size = ldns_rdf_size(f);
    const std::uint8_t* bytes = ldns_rdf_data(f);
    if (size < 1 || static_cast<std::size_t>(bytes[0]) + 1 != size) return std::nullopt;
    out.append(reinterpret_cast<const char*>(bytes) + 1, size - 1);
  }
  return out;
}

std::optional<std::string> address_data(const ldns_rr* rr, int family, std::size_t size) {
  const ldns_rdf* f = ldns_rr_rd_count(rr) == 1 ? ldns_rr_rdf(rr, 0) : nullptr;
  if (f == nullptr || ldns_rdf_size(f) != size) return std::nullopt;
  char text[INET6_ADDRSTRLEN] = {};
  if (inet_ntop(family, ldns_rdf_data(f), text, sizeof text) == nullptr) return std::nullopt;
  return std::string(text);
}

std::optional<Record> mx_data(const ldns_rr* rr) {
  if (ldns_rr_rd_count(rr) != 2) return std::nullopt;
  const ldns_rdf* pref = ldns_rr_rdf(rr, 0);
  if (pref == nullptr || ldns_rdf_size(pref) != 2) return std::nullopt;
  auto host = dname_text(ldns_rr_rdf(rr, 1));
  if (!host) return std::nullopt;
  return Record{ldns_rdf2native_int16(pref), std::move(*host)};
}

// TLSA (RFC 6698 §2.1): ldns splits the RDATA into fields; put them back together.
std::optional<Record> tlsa_data(const ldns_rr* rr) {
  std::string out;
  for (std::size_t i = 0; i < ldns_rr_rd_count(rr); ++i) {
    const ldns_rdf* f = ldns_rr_rdf(rr, i);
    if (f == nullptr) return std::nullopt;
    out.append(reinterpret_cast<const char*>(ldns_rdf_data(f)), ldns_rdf_size(f));
  }
  if (out.size() < 4) return std::nullopt;
  return Record{0, std::move(out)};
}

// RFC 2308 §5: a negative answer lives as long as the SOA in its authority
// section, at most the SOA's MINIMUM field.
std::uint32_t negative_ttl(const ldns_pkt* pkt) {
  const ldns_rr_list* authority = ldns_pkt_authority(pkt);
  const std::size_t count = authority ? ldns_rr_list_rr_count(authority) : 0;
  for (std::size_t i = 0; i < count; ++i) {
    const ldns_rr* rr = ldns_rr_list_rr(authority, i);
    if (ldns_rr_get_type(rr) != LDNS_RR_TYPE_SOA || ldns_rr_rd_count(rr) != 7) continue;
    const ldns_rdf* minimum = ldns_rr_rdf(rr, 6);
    if (minimum == nullptr || ldns_rdf_size(minimum) != 4) continue;
    return std::min(ldns_rr_ttl(rr), ldns_rdf2native_int32(minimum));
  }
  return 0;
}

std::optional<Record> record_data(const ldns_rr* rr, std::uint16_t type) {
  switch (type) {
    case LDNS_RR_TYPE_TXT:
      if (auto s = txt_data(rr)) return Record{0, std::move(*s)};
      return std::nullopt;
    case LDNS_RR_TYPE_A:
      if (auto s = address_data(rr, AF_INET, 4)) return Record{0, std::move(*s)};
      return std::nullopt;
    case LDNS_RR_TYPE_AAAA:
      if (auto s = address_data(rr, AF_INET6, 16)) return Record{0, std::move(*s)};
      return std::nullopt;
    case LDNS_RR_TYPE_MX:
      return mx_data(rr);
    case LDNS_RR_TYPE_TLSA:
      return tlsa_data(rr);
    default:
      return std::nullopt;
  }
}

}  // namespace

std::optional<std::string> canonical_name(std::string_view name) {
  if (name.empty() || name.find('\0') != std::string_view::npos) return std::nullopt;
  RdfPtr dname(ldns_dname_new_frm_str(std::string(name).c_str()));
  if (!dname) return std::nullopt;
  return dname_text(dname.get());
}

std::optional<std::vector<unsigned char>> build_query(std::string_view name, std::uint16_t type,
                                                      bool dnssec) {
  if (name.empty() || name.find('\0') != std::string_view::npos) return std::nullopt;
  ldns_rdf* owner = ldns_dname_new_frm_str(std::string(name).c_str());
  if (owner == nullptr) return std::nullopt;
  // ldns_pkt_query_new takes ownership of owner, also on failure.
  PktPtr pkt(ldns_pkt_query_new(owner, static_cast<ldns_rr_type>(type), LDNS_RR_CLASS_IN, LDNS_RD));
  if (!pkt) return std::nullopt;
  // c-ares 1.18 ares_send() keeps the ID it is given; an unpredictable ID is
  // part of the defence against spoofed answers.
  ldns_pkt_set_id(pkt.get(), static_cast<std::uint16_t>(arc4random()));
  ldns_pkt_set_edns_udp_size(pkt.get(), kEdnsUdpSize);
  if (dnssec) {
    ldns_pkt_set_ad(pkt.get(), true);
    ldns_pkt_set_edns_do(pkt.get(), true);
  }
  std::uint8_t* wire = nullptr;
  std::size_t size = 0;
  if (ldns_pkt2wire(&wire, pkt.get(), &size) != LDNS_STATUS_OK || wire == nullptr) {
    std::free(wire);
    return std::nullopt;
  }
  std::unique_ptr<std::uint8_t, CFree> owned(wire);
  return std::vector<unsigned char>(wire, wire + size);
}

Answer read_answer(const std::vector<unsigned char>& message, std::uint16_t type,
                   std::vector<std::string>& chain) {
  std::string error;
  PktPtr pkt = parse(message, error);
  if (!pkt) return fail(std::move(error));
  if (ldns_pkt_tc(pkt.get())) return fail("truncated answer");
  if (ldns_pkt_edns_extended_rcode(pkt.get()) != 0) {
    return fail("extended rcode " + std::to_string(ldns_pkt_edns_extended_rcode(pkt.get())) +
                " from server");
  }
  const bool authenticated = ldns_pkt_ad(pkt.get());
  const int rcode = ldns_pkt_get_rcode(pkt.get());
  if (rcode != LDNS_RCODE_NOERROR) {
    Answer a;
    a.outcome = outcome_of_rcode(rcode);
    if (a.outcome.status == Status::no_data) a.ttl = negative_ttl(pkt.get());
    a.authenticated = authenticated;
    return a;
  }

  const ldns_rr_list* section = ldns_pkt_answer(pkt.get());
  const std::size_t count = section ? ldns_rr_list_rr_count(section) : 0;
  // Owners, computed once: a hostile answer may hold many records.
  std::vector<std::optional<std::string>> owners(count);
  for (std::size_t i = 0; i < count; ++i) {
    const ldns_rr* rr = ldns_rr_list_rr(section, i);
    if (ldns_rr_get_class(rr) == LDNS_RR_CLASS_IN) owners[i] = dname_text(ldns_rr_owner(rr));
  }

  bool followed_here = false;
  std::uint32_t cname_ttl = UINT32_MAX;  // smallest TTL along the CNAME chain
  for (;;) {
    const std::string& current = chain.back();
    Answer a;
    a.ttl = cname_ttl;
    a.authenticated = authenticated;
    const ldns_rr* cname = nullptr;
    for (std::size_t i = 0; i < count; ++i) {
      if (!owners[i] || *owners[i] != current) continue;
      const ldns_rr* rr = ldns_rr_list_rr(section, i);
      const auto rr_type = static_cast<std::uint16_t>(ldns_rr_get_type(rr));
      if (rr_type == type) {
        auto record = record_data(rr, type);
        if (!record) return fail("malformed answer: bad record for " + current);
        a.records.push_back(std::move(*record));
        a.ttl = std::min(a.ttl, ldns_rr_ttl(rr));
      } else if (rr_type == LDNS_RR_TYPE_CNAME && cname == nullptr) {
        cname = rr;
      }
    }
    if (!a.records.empty()) {
      a.outcome = {Status::ok, "", Cause::none};
      return a;
    }
    if (cname == nullptr) {
      if (followed_here) {
        a.follow = true;  // the server stopped at the target: ask for it
      } else {
        a.outcome = {Status::no_data, "NODATA", Cause::nodata};
      }
      a.ttl = std::min(a.ttl, negative_ttl(pkt.get()));
      if (a.ttl == UINT32_MAX) a.ttl = 0;
      return a;
    }
    auto target = dname_text(ldns_rr_rdf(cname, 0));
    if (!target || ldns_rr_rd_count(cname) != 1) {
      return fail("malformed answer: bad CNAME for " + current);
    }
    if (std::find(chain.begin(), chain.end(), *target) != chain.end()) {
      return fail("CNAME loop at " + *target);
    }
    if (chain.size() > kMaxCnameHops) return fail("CNAME chain too long");
    cname_ttl = std::min(cname_ttl, ldns_rr_ttl(cname));
    chain.push_back(std::move(*target));
    followed_here = true;
  }
}

RawVerdict read_raw(const std::vector<unsigned char>& message) {
  RawVerdict v;
  PktPtr pkt = parse(message, v.outcome.error);
  if (!pkt) return v;
  v.authenticated = ldns_pkt_ad(pkt.get());
  if (ldns_pkt_tc(pkt.get())) {
    v.outcome = {Status::temp_fail, "truncated answer", Cause::malformed};
    return v;
  }
  const int rcode = ldns_pkt_get_rcode(pkt.get());
  v.outcome = outcome_of_rcode(rcode);
  if (v.outcome.status == Status::ok && ldns_pkt_ancount(pkt.get()) == 0) {
    v.outcome = {Status::no_data, "NODATA", Cause::nodata};
  }
  return v;
}

}  // namespace mtasts::dns
