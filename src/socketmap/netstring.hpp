#pragma once
// Netstrings (socketmap_table(5)): "LEN:PAYLOAD,". Sans-I/O: bytes in, frames out.
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace mtasts::socketmap {

enum class NetstringError {
  none,
  bad_length,     // empty length, non-digit, leading zero on a non-zero length
  too_long,       // declared length above the limit (rejected before buffering)
  missing_comma,  // payload not followed by ','
};

std::string_view to_string(NetstringError error);

// Incremental reader over a caller-owned buffer. Feed it bytes with append();
// next() yields complete payloads in order. After an error the stream is unusable.
// Once next() has returned std::nullopt, at most one partial frame is buffered:
// buffered() <= max_payload + (digits of max_payload) + 1; after an error, 0.
class NetstringReader {
 public:
  explicit NetstringReader(std::size_t max_payload);

  void append(std::string_view bytes);
  // Returns the next complete payload (valid until the next append/next call),
  // std::nullopt if more bytes are needed or an error occurred (see error()).
  std::optional<std::string_view> next();
  NetstringError error() const { return error_; }
  std::size_t buffered() const { return buffer_.size() - consumed_; }

 private:
  std::size_t max_payload_;
  std::string buffer_;
  std::size_t consumed_ = 0;
  NetstringError error_ = NetstringError::none;
};

// Appends the netstring encoding of payload to out.
void append_netstring(std::string& out, std::string_view payload);
std::string encode_netstring(std::string_view payload);

// Splits a request payload "NAME KEY" at the first space. std::nullopt when there
// is no space or the name is empty.
struct Request {
  std::string_view name;
  std::string_view key;
};
std::optional<Request> parse_request(std::string_view payload);

}  // namespace mtasts::socketmap
