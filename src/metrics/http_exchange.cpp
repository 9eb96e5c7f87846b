#include "metrics/http_exchange.hpp"

#include <fmt/format.h>

#include "metrics/text_format.hpp"

namespace mtasts::metrics {

namespace {

std::string response(int status, std::string_view reason, std::string_view content_type,
                     std::string_view body, bool head_only, std::string_view extra = {}) {
  std::string out = fmt::format(
      "HTTP/1.1 {} {}\r\nContent-Type: {}\r\nContent-Length: {}\r\nConnection: close\r\n{}\r\n",
      status, reason, content_type, body.size(), extra);
  if (!head_only) out += body;
  return out;
}

std::string plain(int status, std::string_view reason, std::string_view extra = {}) {
  return response(status, reason, "text/plain; charset=utf-8", fmt::format("{}\n", reason), false,
                  extra);
}

bool is_token_char(char c) {
  // RFC 9110 tchar, enough to tell a method from garbage.
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
         std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

}  // namespace

std::string respond(std::string_view head, const std::function<std::string()>& render) {
  const auto line_end = head.find("\r\n");
  if (line_end == std::string_view::npos) return plain(400, "Bad Request");
  const std::string_view line = head.substr(0, line_end);
  // method SP request-target SP HTTP-version (RFC 9112 §3), single spaces.
  const auto sp1 = line.find(' ');
  const auto sp2 = sp1 == std::string_view::npos ? sp1 : line.find(' ', sp1 + 1);
  if (sp1 == 0 || sp2 == std::string_view::npos || sp2 == sp1 + 1 ||
      line.find(' ', sp2 + 1) != std::string_view::npos)
    return plain(400, "Bad Request");
  const std::string_view method = line.substr(0, sp1);
  const std::string_view target = line.substr(sp1 + 1, sp2 - sp1 - 1);
  const std::string_view version = line.substr(sp2 + 1);
  for (const char c : method) {
    if (!is_token_char(c)) return plain(400, "Bad Request");
  }
  if (version != "HTTP/1.1" && version != "HTTP/1.0") return plain(400, "Bad Request");
  // The query string (Prometheus adds none; a browser might) does not matter.
  const std::string_view path = target.substr(0, target.find('?'));
  if (path != "/metrics") return plain(404, "Not Found");
  const bool head_only = method == "HEAD";
  if (method != "GET" && !head_only)
    return plain(405, "Method Not Allowed", "Allow: GET, HEAD\r\n");
  return response(200, "OK", kTextContentType, render(), head_only);
}

std::string respond_too_large() { return plain(431, "Request Header Fields Too Large"); }

}  // namespace mtasts::metrics
