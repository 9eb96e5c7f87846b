#pragma once
// What the PostgreSQL store's two kinds of connection share (the event loop's
// asynchronous one in postgres_store.cpp, the blocking start-up one in
// postgres_sync.hpp): the DSN check, starting a non-blocking connect, result
// ownership and error texts.
//
// The DSN is postfix-mta-sts-resolver's cache.options.dsn, in either form libpq
// reads: a URL (postgres://user@%2Frun%2Fpostgresql/db) or keyword/value pairs
// (host=/run/postgresql dbname=db user=u). libpq parses it; we only check it
// early, so a typo stops start-up with the key named instead of failing every
// reconnect.
#include <libpq-fe.h>

#include <memory>
#include <string>

namespace mtasts::cache {

struct PgResultFree {
  void operator()(PGresult* result) const { PQclear(result); }
};
using PgResult = std::unique_ptr<PGresult, PgResultFree>;

// Throws std::invalid_argument naming cache.options.dsn when libpq cannot parse
// it; otherwise what logs call the server: "postgres://USER@HOST:PORT/DB",
// never the password.
std::string check_postgres_dsn(const std::string& dsn);

// PQconnectStartParams with the DSN expanded and application_name=mta-stsd
// (unless the DSN names one): never blocks once the host is an address or a
// socket directory (a host name is resolved with getaddrinfo, which may).
// Null only when out of memory; check PQstatus for CONNECTION_BAD.
PGconn* start_postgres_connection(const std::string& dsn);

// libpq's messages end in a line break and may span lines: one log line.
std::string postgres_error(const PGconn* conn);
std::string postgres_result_error(const PGresult* result);

// NOTICEs ("relation ... already exists, skipping") go to the debug log
// instead of libpq's default, stderr.
void route_postgres_notices(PGconn* conn);

}  // namespace mtasts::cache
