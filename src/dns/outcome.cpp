#include "dns/outcome.hpp"

#include <ares.h>
#include "dns/ldns.hpp"

namespace mtasts::dns {

Outcome outcome_of_rcode(int rcode) {
  switch (rcode) {
    case LDNS_RCODE_NOERROR:
      return {Status::ok, ""};
    case LDNS_RCODE_NXDOMAIN:
      return {Status::no_data, "NXDOMAIN"};
    case LDNS_RCODE_SERVFAIL:
      return {Status::temp_fail, "SERVFAIL from server"};
    case LDNS_RCODE_REFUSED:
      return {Status::temp_fail, "REFUSED from server"};
    case LDNS_RCODE_FORMERR:
      return {Status::temp_fail, "FORMERR from server"};
    case LDNS_RCODE_NOTIMPL:
      return {Status::temp_fail, "NOTIMP from server"};
    default:
      return {Status::temp_fail, "rcode " + std::to_string(rcode) + " from server"};
  }
}

Outcome outcome_of_ares_status(int status) {
  switch (status) {
    case ARES_ENOTFOUND:
      return {Status::no_data, "NXDOMAIN"};
    case ARES_ENODATA:
      return {Status::no_data, "NODATA"};
    case ARES_ETIMEOUT:
      return {Status::temp_fail, "timeout"};
    case ARES_ECONNREFUSED:
      return {Status::temp_fail, "connection refused"};
    case ARES_ESERVFAIL:
      return {Status::temp_fail, "SERVFAIL from server"};
    case ARES_EREFUSED:
      return {Status::temp_fail, "REFUSED from server"};
    case ARES_EFORMERR:
      return {Status::temp_fail, "FORMERR from server"};
    case ARES_ENOTIMP:
      return {Status::temp_fail, "NOTIMP from server"};
    case ARES_EBADRESP:
      return {Status::temp_fail, "malformed answer: rejected by c-ares"};
    case ARES_EDESTRUCTION:
    case ARES_ECANCELLED:
      return {Status::temp_fail, "shutdown"};
    default:
      return {Status::temp_fail, ares_strerror(status)};
  }
}

}  // namespace mtasts::dns
