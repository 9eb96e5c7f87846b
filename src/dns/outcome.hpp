#pragma once
// How DNS failures become the three statuses callers act on, with an error
// text that says what actually happened.
#include <string>

#include "dns/resolver.hpp"

namespace mtasts::dns {

struct Outcome {
  Status status = Status::temp_fail;
  std::string error;
  Cause cause = Cause::malformed;  // what a failure was (Cause::none when ok)
};

// A response code other than NOERROR/NXDOMAIN: the server could not answer.
Outcome outcome_of_rcode(int rcode);

// A c-ares status that came without a usable response. c-ares 1.18 reports
// NXDOMAIN as ARES_ENOTFOUND and NODATA as ARES_ENODATA (from ares_query);
// ARES_ECONNREFUSED is also its catch-all when every try failed without a timeout.
Outcome outcome_of_ares_status(int status);

}  // namespace mtasts::dns
