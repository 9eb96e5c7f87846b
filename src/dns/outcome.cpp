#include "dns/outcome.hpp"

#include <ares.h>
#include "dns/ldns.hpp"

namespace mtasts::dns {

std::string_view to_string(Cause cause) {
  switch (cause) {
    case Cause::none:
      return "ok";
    case Cause::nxdomain:
      return "nxdomain";
    case Cause::nodata:
      return "nodata";
    case Cause::timeout:
      return "timeout";
    case Cause::servfail:
      return "servfail";
    case Cause::refused:
      return "refused";
    case Cause::malformed:
      return "malformed";
    case Cause::other:
      return "other";
  }
  return "other";
}

Outcome outcome_of_rcode(int rcode) {
  switch (rcode) {
    case LDNS_RCODE_NOERROR:
      return {Status::ok, "", Cause::none};
    case LDNS_RCODE_NXDOMAIN:
      return {Status::no_data, "NXDOMAIN", Cause::nxdomain};
    case LDNS_RCODE_SERVFAIL:
      return {Status::temp_fail, "SERVFAIL from server", Cause::servfail};
    case LDNS_RCODE_REFUSED:
      return {Status::temp_fail, "REFUSED from server", Cause::refused};
    case LDNS_RCODE_FORMERR:
      return {Status::temp_fail, "FORMERR from server", Cause::other};
    case LDNS_RCODE_NOTIMPL:
      return {Status::temp_fail, "NOTIMP from server", Cause::other};
    default:
      return {Status::temp_fail, "rcode " + std::to_string(rcode) + " from server", Cause::other};
  }
}

Outcome outcome_of_ares_status(int status) {
  switch (status) {
    case ARES_ENOTFOUND:
      return {Status::no_data, "NXDOMAIN", Cause::nxdomain};
    case ARES_ENODATA:
      return {Status::no_data, "NODATA", Cause::nodata};
    case ARES_ETIMEOUT:
      return {Status::temp_fail, "timeout", Cause::timeout};
    case ARES_ECONNREFUSED:
      return {Status::temp_fail, "connection refused", Cause::refused};
    case ARES_ESERVFAIL:
      return {Status::temp_fail, "SERVFAIL from server", Cause::servfail};
    case ARES_EREFUSED:
      return {Status::temp_fail, "REFUSED from server", Cause::refused};
    case ARES_EFORMERR:
      return {Status::temp_fail, "FORMERR from server", Cause::other};
    case ARES_ENOTIMP:
      return {Status::temp_fail, "NOTIMP from server", Cause::other};
    case ARES_EBADRESP:
      return {Status::temp_fail, "malformed answer: rejected by c-ares", Cause::malformed};
    case ARES_EDESTRUCTION:
    case ARES_ECANCELLED:
      return {Status::temp_fail, "shutdown", Cause::other};
    default:
      return {Status::temp_fail, ares_strerror(status), Cause::other};
  }
}

}  // namespace mtasts::dns
