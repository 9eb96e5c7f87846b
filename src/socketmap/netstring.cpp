#include "socketmap/netstring.hpp"

#include <charconv>

namespace mtasts::socketmap {

namespace {

// Number of decimal digits needed to write n; a declared length with more digits
// than the limit has is too long whatever the digits are.
std::size_t decimal_digits(std::size_t n) {
  std::size_t digits = 1;
  while (n >= 10) {
    n /= 10;
    ++digits;
  }
  return digits;
}

// A buffer that once held a large frame gives its memory back when it empties,
// so an idle connection costs little (one 10 kB request must not pin 10 kB forever).
constexpr std::size_t kKeepBufferCapacity = 16 * 1024;

}  // namespace

std::string_view to_string(NetstringError error) {
  switch (error) {
    case NetstringError::none:
      return "no error";
    case NetstringError::bad_length:
      return "malformed netstring length";
    case NetstringError::too_long:
      return "netstring too long";
    case NetstringError::missing_comma:
      return "netstring missing comma";
  }
  return "unknown netstring error";
}

NetstringReader::NetstringReader(std::size_t max_payload) : max_payload_(max_payload) {}

void NetstringReader::append(std::string_view bytes) {
  if (error_ != NetstringError::none || bytes.empty()) {
    return;  // a broken stream is never resynchronised
  }
  if (consumed_ == buffer_.size()) {
    if (buffer_.capacity() > kKeepBufferCapacity) {
      std::string().swap(buffer_);
    } else {
      buffer_.clear();
    }
    consumed_ = 0;
  } else if (consumed_ > 0) {
    buffer_.erase(0, consumed_);
    consumed_ = 0;
  }
  buffer_.append(bytes);
}

std::optional<std::string_view> NetstringReader::next() {
  if (error_ != NetstringError::none) {
    return std::nullopt;
  }
  const char* data = buffer_.data() + consumed_;
  const std::size_t avail = buffer_.size() - consumed_;
  const std::size_t max_digits = decimal_digits(max_payload_);

  // Every check runs on the length prefix alone, so a hostile length is refused
  // before any of its payload is waited for (Postfix netstring.c: size error).
  const auto fail = [this](NetstringError error) -> std::optional<std::string_view> {
    error_ = error;
    std::string().swap(buffer_);
    consumed_ = 0;
    return std::nullopt;
  };
  std::size_t length = 0;
  std::size_t i = 0;
  for (; i < avail && data[i] != ':'; ++i) {
    const char c = data[i];
    if (c < '0' || c > '9') {
      return fail(NetstringError::bad_length);
    }
    if (i == 1 && data[0] == '0') {
      return fail(NetstringError::bad_length);  // "0" is the only length starting with 0
    }
    if (i >= max_digits) {
      return fail(NetstringError::too_long);
    }
    length = length * 10 + static_cast<std::size_t>(c - '0');
  }
  if (i == avail) {
    return std::nullopt;  // the length so far is valid; wait for the rest
  }
  if (i == 0) {
    return fail(NetstringError::bad_length);
  }
  if (length > max_payload_) {
    return fail(NetstringError::too_long);
  }
  const std::size_t payload_at = i + 1;
  if (avail - payload_at <= length) {
    return std::nullopt;  // payload or its comma not here yet
  }
  if (data[payload_at + length] != ',') {
    return fail(NetstringError::missing_comma);
  }
  consumed_ += payload_at + length + 1;
  return std::string_view(data + payload_at, length);
}

void append_netstring(std::string& out, std::string_view payload) {
  char digits[24];
  const auto result = std::to_chars(digits, digits + sizeof digits, payload.size());
  out.append(digits, result.ptr);
  out.push_back(':');
  out.append(payload);
  out.push_back(',');
}

std::string encode_netstring(std::string_view payload) {
  std::string out;
  out.reserve(payload.size() + 24);
  append_netstring(out, payload);
  return out;
}

std::optional<Request> parse_request(std::string_view payload) {
  // socketmap_table(5): the request is "name <space> key"; the key may itself
  // contain spaces, so only the first one separates.
  const auto space = payload.find(' ');
  if (space == std::string_view::npos || space == 0) {
    return std::nullopt;
  }
  return Request{payload.substr(0, space), payload.substr(space + 1)};
}

}  // namespace mtasts::socketmap
