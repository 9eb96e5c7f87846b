#include <doctest/doctest.h>

#include <string>

#include "metrics/http_exchange.hpp"

using mtasts::metrics::respond;

namespace {

int renders = 0;
std::string render() {
  ++renders;
  return "m 1\n";
}

std::string status_line(const std::string& response) {
  return response.substr(0, response.find("\r\n"));
}

}  // namespace

TEST_CASE("GET /metrics: 200, the exposition's content type and length, connection closed") {
  renders = 0;
  const auto r = respond("GET /metrics HTTP/1.1\r\nHost: x\r\nAccept: */*\r\n\r\n", render);
  CHECK(r ==
        "HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4; charset=utf-8\r\n"
        "Content-Length: 4\r\nConnection: close\r\n\r\nm 1\n");
  CHECK(renders == 1);
  CHECK(status_line(respond("GET /metrics?x=1 HTTP/1.0\r\n\r\n", render)) == "HTTP/1.1 200 OK");
}

TEST_CASE("HEAD /metrics: headers only") {
  const auto r = respond("HEAD /metrics HTTP/1.1\r\n\r\n", render);
  CHECK(status_line(r) == "HTTP/1.1 200 OK");
  CHECK(r.ends_with("Content-Length: 4\r\nConnection: close\r\n\r\n"));
}

TEST_CASE("anything else: 404, 405, 400, without rendering") {
  renders = 0;
  CHECK(status_line(respond("GET / HTTP/1.1\r\n\r\n", render)) == "HTTP/1.1 404 Not Found");
  CHECK(status_line(respond("GET /metricsx HTTP/1.1\r\n\r\n", render)) == "HTTP/1.1 404 Not Found");
  CHECK(status_line(respond("GET /metrics/ HTTP/1.1\r\n\r\n", render)) == "HTTP/1.1 404 Not Found");
  const auto post = respond("POST /metrics HTTP/1.1\r\n\r\n", render);
  CHECK(status_line(post) == "HTTP/1.1 405 Method Not Allowed");
  CHECK(post.find("\r\nAllow: GET, HEAD\r\n") != std::string::npos);
  for (const char* bad :
       {"GET /metrics\r\n\r\n", "GET  /metrics HTTP/1.1\r\n\r\n", "GET /metrics HTTP/2\r\n\r\n",
        "GET /metrics HTTP/1.1 x\r\n\r\n", " /metrics HTTP/1.1\r\n\r\n",
        "G(T /metrics HTTP/1.1\r\n\r\n", "\x16\x03\x01\x02\x00\r\n\r\n", ""}) {
    CAPTURE(bad);
    CHECK(status_line(respond(bad, render)) == "HTTP/1.1 400 Bad Request");
  }
  CHECK(renders == 0);
  CHECK(status_line(mtasts::metrics::respond_too_large()) ==
        "HTTP/1.1 431 Request Header Fields Too Large");
}
