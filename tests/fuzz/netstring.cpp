// socketmap netstrings (socketmap_table(5)): byte 0 picks the reader's limit,
// byte 1 how the rest is cut into append() calls, as TCP may cut it.
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "fuzz_check.hpp"
#include "socketmap/netstring.hpp"

using mtasts::socketmap::encode_netstring;
using mtasts::socketmap::NetstringError;
using mtasts::socketmap::NetstringReader;

namespace {

struct Outcome {
  std::vector<std::string> payloads;
  NetstringError error = NetstringError::none;
};

std::size_t decimal_digits(std::size_t n) { return std::to_string(n).size(); }

// Drains every complete payload, checking what the header documents after each
// drain: payloads within the limit, and at most one partial frame buffered.
void drain(NetstringReader& reader, std::size_t max_payload, Outcome& out) {
  while (const auto payload = reader.next()) {
    FUZZ_CHECK(payload->size() <= max_payload);
    out.payloads.emplace_back(*payload);
  }
  out.error = reader.error();
  if (reader.error() == NetstringError::none) {
    FUZZ_CHECK(reader.buffered() <= max_payload + decimal_digits(max_payload) + 1);
  } else {
    FUZZ_CHECK(reader.buffered() == 0);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 2) return 0;
  // Odd: the daemon's default request limit; even: a small limit, 0 included.
  const std::size_t max_payload = (data[0] & 1) != 0 ? 10000 : data[0] >> 1;
  const std::size_t chunk = data[1] == 0 ? size : 1 + data[1] % 17;
  const std::string_view stream = mtasts::fuzz::as_text(data + 2, size - 2);

  Outcome chunked;
  NetstringReader reader(max_payload);
  for (std::size_t at = 0; at < stream.size(); at += chunk) {
    reader.append(stream.substr(at, chunk));
    drain(reader, max_payload, chunked);
  }

  // Where the stream was cut must not change what it means.
  Outcome whole;
  NetstringReader one_read(max_payload);
  one_read.append(stream);
  drain(one_read, max_payload, whole);
  FUZZ_CHECK(whole.payloads == chunked.payloads);
  FUZZ_CHECK(whole.error == chunked.error);

  // Every payload survives encode -> read unchanged, alone in its frame.
  for (const auto& payload : chunked.payloads) {
    const std::string frame = encode_netstring(payload);
    FUZZ_CHECK(frame.size() == decimal_digits(payload.size()) + 1 + payload.size() + 1);
    NetstringReader again(max_payload);
    again.append(frame);
    const auto read = again.next();
    FUZZ_CHECK(read.has_value() && *read == payload);
    FUZZ_CHECK(!again.next().has_value());
    FUZZ_CHECK(again.error() == NetstringError::none && again.buffered() == 0);
  }
  return 0;
}
