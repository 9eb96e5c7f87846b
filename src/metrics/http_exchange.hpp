#pragma once
// One HTTP/1.1 exchange of the metrics endpoint, without sockets: a request
// head in, the whole response out. Only GET (and HEAD) /metrics is served;
// every response closes the connection, so there is no keep-alive state to
// keep and no request body to skip. Pure logic.
#include <functional>
#include <string>
#include <string_view>

namespace mtasts::metrics {

// The longest request head read (request line and headers). Prometheus sends
// a few hundred bytes; anything longer is not a scraper.
inline constexpr std::size_t kMaxRequestHead = 8192;

// head: the bytes up to and including the blank line ("\r\n\r\n").
// render: the exposition text, called only for GET/HEAD /metrics.
// Answers 200 with the exposition, 404 for another path, 405 for another
// method, 400 for what is not an HTTP/1.x request line.
std::string respond(std::string_view head, const std::function<std::string()>& render);

// A response to a request that never became a head (too long): 431.
std::string respond_too_large();

}  // namespace mtasts::metrics
