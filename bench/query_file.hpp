#pragma once
// The load generator's query list: one "KEY<TAB>EXPECTED_REPLY_PAYLOAD" per line.
// The expected payload is taken byte for byte up to the line's '\n' (so
// "NOTFOUND " keeps its trailing space); empty lines and lines starting with '#'
// are skipped.
#include <fstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "netstring_codec.hpp"

namespace mtasts::bench {

struct Query {
  std::string key;
  std::string request;   // the whole netstring sent: "LEN:NAME KEY,"
  std::string expected;  // the reply payload, without framing
};

// Throws std::runtime_error naming the file and line on a line without a tab.
inline std::vector<Query> load_queries(const std::string& path, const std::string& map_name) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot read " + path);
  std::vector<Query> queries;
  std::string line;
  for (int number = 1; std::getline(in, line); ++number) {
    if (line.empty() || line[0] == '#') continue;
    const auto tab = line.find('\t');
    if (tab == std::string::npos || tab == 0) {
      throw std::runtime_error(path + ":" + std::to_string(number) +
                               ": expected KEY<TAB>EXPECTED_REPLY_PAYLOAD");
    }
    Query q;
    q.key = line.substr(0, tab);
    q.expected = line.substr(tab + 1);
    q.request = encode_netstring(map_name + " " + q.key);
    queries.push_back(std::move(q));
  }
  if (queries.empty()) throw std::runtime_error(path + ": no queries");
  return queries;
}

}  // namespace mtasts::bench
