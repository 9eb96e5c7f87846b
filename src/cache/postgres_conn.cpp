#include "cache/postgres_conn.hpp"

#include <spdlog/spdlog.h>

#include <stdexcept>

namespace mtasts::cache {

namespace {

// Line breaks and the tabs libpq indents continuation lines with become one
// space each run.
std::string one_line(const char* text) {
  std::string out;
  bool space = false;
  for (const char* p = text != nullptr ? text : ""; *p != '\0'; ++p) {
    const char c = *p;
    if (c == '\n' || c == '\r' || c == '\t' || c == ' ') {
      space = !out.empty();
      continue;
    }
    if (space) out += ' ';
    space = false;
    out += c;
  }
  return out.empty() ? "unknown error" : out;
}

struct ConninfoFree {
  void operator()(PQconninfoOption* options) const { PQconninfoFree(options); }
};

void log_notice(void* /*arg*/, const char* message) {
  spdlog::debug("postgres: {}", one_line(message));
}

}  // namespace

std::string check_postgres_dsn(const std::string& dsn) {
  char* error = nullptr;
  std::unique_ptr<PQconninfoOption, ConninfoFree> options(PQconninfoParse(dsn.c_str(), &error));
  if (!options) {
    std::string why = error != nullptr ? one_line(error) : "out of memory";
    PQfreemem(error);
    throw std::invalid_argument("cache.options.dsn: not a PostgreSQL connection string (" + why +
                                ")");
  }
  std::string user, host, port, dbname;
  for (auto* option = options.get(); option->keyword != nullptr; ++option) {
    if (option->val == nullptr) continue;
    const std::string keyword = option->keyword;
    if (keyword == "user") user = option->val;
    if (keyword == "host" || (keyword == "hostaddr" && host.empty())) host = option->val;
    if (keyword == "port") port = option->val;
    if (keyword == "dbname") dbname = option->val;
  }
  std::string out = "postgres://";
  if (!user.empty()) out += user + "@";
  out += host.empty() ? "(default socket)" : host;
  if (!port.empty()) out += ":" + port;
  if (!dbname.empty()) out += "/" + dbname;
  return out;
}

PGconn* start_postgres_connection(const std::string& dsn) {
  // The DSN is expanded in place of dbname; application_name comes first so
  // one the DSN sets wins.
  const char* keywords[] = {"application_name", "dbname", nullptr};
  const char* values[] = {"mta-stsd", dsn.c_str(), nullptr};
  return PQconnectStartParams(keywords, values, 1);
}

std::string postgres_error(const PGconn* conn) {
  return conn == nullptr ? "out of memory" : one_line(PQerrorMessage(conn));
}

std::string postgres_result_error(const PGresult* result) {
  if (result == nullptr) return "no result";
  return one_line(PQresultErrorMessage(result));
}

void route_postgres_notices(PGconn* conn) {
  if (conn != nullptr) PQsetNoticeProcessor(conn, &log_notice, nullptr);
}

}  // namespace mtasts::cache
