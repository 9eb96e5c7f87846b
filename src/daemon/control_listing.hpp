#pragma once
// The replies of `list` and `export`, written a chunk at a time: a snapshot of
// the domain names memory holds, plus the records read from the store first
// (memory is not the whole cache: cache_size). Each chunk looks the policies up
// again (one may have been purged or replaced in between: the reply shows it as
// it is then). No socket here: the control connection writes each chunk.
//   list:   {"policies":[...],"negative":N}, memory's policies then the store's.
//   export: JSON lines (control/transfer.hpp): the header, the policies, the DANE
//           results, and an empty line that ends the reply.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "cache/cached_dane.hpp"
#include "cache/cached_policy.hpp"
#include "resolver/policy_resolver.hpp"

namespace mtasts::daemon {

class PolicyListing {
 public:
  enum class Kind { list, export_lines };

  // stored: list: the policies only the store holds; export: every stored
  // policy (the text as fetched is the store's). stored_dane: export's DANE
  // results from the store. Writes the reply's head to `output`.
  void begin(Kind kind, const resolver::PolicyResolver& policies,
             std::vector<cache::CachedPolicy> stored, std::vector<cache::CachedDane> stored_dane,
             std::int64_t now, std::string& output);
  // Appends to `output` until it holds chunk_bytes or the reply is complete;
  // true once it is (its closing part written, the snapshot released).
  bool fill(const resolver::PolicyResolver& policies, std::int64_t now, std::size_t chunk_bytes,
            std::string& output);

 private:
  void add(const cache::CachedPolicy& p, std::string_view source, std::string& output);
  void release();

  Kind kind_ = Kind::list;
  std::vector<std::string> domains_;            // memory's policies
  std::vector<cache::CachedPolicy> stored_;     // the store's
  std::vector<std::string> dane_;               // export: memory's DANE destinations
  std::vector<cache::CachedDane> stored_dane_;  // export: the store's, newer than memory's
  std::size_t next_ = 0;
  bool first_ = true;
};

}  // namespace mtasts::daemon
