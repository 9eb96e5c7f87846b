#pragma once
// What became of a record handed to the lifecycle from outside (mta-stsctl
// import): kept, refused with why, or older than what the daemon holds.
#include <string>

namespace mtasts::resolver {

struct Adoption {
  enum class Outcome {
    adopted,  // now in memory and the store
    refused,  // failed the store's checks, or would downgrade what is held
    older,    // the daemon holds one fetched at the same time or later: kept
  };
  Outcome outcome = Outcome::refused;
  std::string reason;  // why, for refused and older
};

}  // namespace mtasts::resolver
