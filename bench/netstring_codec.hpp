#pragma once
// A tiny netstring codec ("LEN:PAYLOAD,", socketmap_table(5)) for the benchmark
// programs. Self-contained on purpose: the benchmark must not change when the
// daemon's own codec (src/socketmap/netstring.hpp) does.
#include <cstddef>
#include <string>
#include <string_view>

namespace mtasts::bench {

enum class FrameStatus { incomplete, complete, malformed };

struct Frame {
  FrameStatus status = FrameStatus::incomplete;
  std::string_view payload;  // valid while the parsed buffer is
  std::size_t consumed = 0;  // bytes of the buffer the frame occupies
};

// Parses the first netstring in buf. A length without digits, with a leading
// zero (other than "0"), above max_payload, or a payload not followed by ','
// is malformed.
inline Frame parse_netstring(std::string_view buf, std::size_t max_payload) {
  Frame frame;
  std::size_t length = 0;
  std::size_t i = 0;
  for (; i < buf.size() && buf[i] != ':'; ++i) {
    const char c = buf[i];
    if (c < '0' || c > '9' || (i == 1 && buf[0] == '0')) {
      frame.status = FrameStatus::malformed;
      return frame;
    }
    length = length * 10 + static_cast<std::size_t>(c - '0');
    if (length > max_payload) {
      frame.status = FrameStatus::malformed;
      return frame;
    }
  }
  if (i == buf.size()) return frame;  // no ':' yet
  if (i == 0) {
    frame.status = FrameStatus::malformed;
    return frame;
  }
  const std::size_t start = i + 1;
  if (buf.size() - start < length + 1) return frame;  // payload or ',' still to come
  if (buf[start + length] != ',') {
    frame.status = FrameStatus::malformed;
    return frame;
  }
  frame.status = FrameStatus::complete;
  frame.payload = buf.substr(start, length);
  frame.consumed = start + length + 1;
  return frame;
}

inline std::string encode_netstring(std::string_view payload) {
  std::string out = std::to_string(payload.size());
  out += ':';
  out += payload;
  out += ',';
  return out;
}

}  // namespace mtasts::bench
