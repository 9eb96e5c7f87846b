#include "cache/postgres_sync.hpp"

#include <poll.h>

#include <cerrno>
#include <cstring>

namespace mtasts::cache {

PostgresSyncClient::PostgresSyncClient(const std::string& dsn, Clock::time_point deadline) {
  conn_ = start_postgres_connection(dsn);
  if (conn_ == nullptr || PQstatus(conn_) == CONNECTION_BAD) {
    close(postgres_error(conn_));
    return;
  }
  route_postgres_notices(conn_);
  // libpq: before the first PQconnectPoll, act as if it had said "writing".
  PostgresPollingStatusType status = PGRES_POLLING_WRITING;
  while (status != PGRES_POLLING_OK) {
    if (status == PGRES_POLLING_FAILED) {
      close(postgres_error(conn_));
      return;
    }
    if (!wait(status == PGRES_POLLING_WRITING, deadline)) return;
    status = PQconnectPoll(conn_);
  }
  if (PQsetnonblocking(conn_, 1) != 0) close(postgres_error(conn_));
}

PostgresSyncClient::~PostgresSyncClient() {
  if (conn_ != nullptr) PQfinish(conn_);
}

void PostgresSyncClient::close(const std::string& why) {
  error_ = why;
  if (conn_ != nullptr) PQfinish(conn_);
  conn_ = nullptr;
}

bool PostgresSyncClient::wait(bool for_write, Clock::time_point deadline) {
  for (;;) {
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
    if (left <= 0) {
      close("no answer in time");
      return false;
    }
    pollfd pfd{};
    pfd.fd = PQsocket(conn_);
    if (pfd.fd < 0) {
      close(postgres_error(conn_));
      return false;
    }
    pfd.events = static_cast<short>(for_write ? POLLOUT : POLLIN);
    const int ready = ::poll(&pfd, 1, static_cast<int>(left));
    if (ready > 0) return true;
    if (ready < 0 && errno != EINTR) {
      close(std::string("poll: ") + std::strerror(errno));
      return false;
    }
  }
}

PgResult PostgresSyncClient::exec(const char* sql,
                                  const std::vector<std::optional<std::string>>& params,
                                  Clock::time_point deadline) {
  if (conn_ == nullptr) return nullptr;
  std::vector<const char*> values;
  for (const auto& param : params) values.push_back(param ? param->c_str() : nullptr);
  const int sent = params.empty() ? PQsendQuery(conn_, sql)
                                  : PQsendQueryParams(conn_, sql, static_cast<int>(values.size()),
                                                      nullptr, values.data(), nullptr, nullptr, 0);
  if (sent == 0) {
    close(postgres_error(conn_));
    return nullptr;
  }
  for (;;) {
    const int flushed = PQflush(conn_);
    if (flushed == 0) break;
    if (flushed < 0 || !wait(true, deadline)) {
      if (conn_ != nullptr) close(postgres_error(conn_));
      return nullptr;
    }
  }
  // Several statements give several results: the first error, else the last.
  PgResult kept;
  bool failed = false;
  for (;;) {
    while (PQisBusy(conn_) != 0) {
      if (!wait(false, deadline)) return nullptr;
      if (PQconsumeInput(conn_) == 0) {
        close(postgres_error(conn_));
        return nullptr;
      }
    }
    PgResult result(PQgetResult(conn_));
    if (!result) break;
    const auto status = PQresultStatus(result.get());
    if (failed) continue;
    if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK) {
      failed = true;
      error_ = postgres_result_error(result.get());
    }
    kept = std::move(result);
  }
  if (PQstatus(conn_) == CONNECTION_BAD) {
    close(failed ? error_ : postgres_error(conn_));
    return nullptr;
  }
  if (failed) return nullptr;
  return kept;
}

}  // namespace mtasts::cache
