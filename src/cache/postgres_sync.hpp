#pragma once
// A blocking PostgreSQL connection for the moments the event loop is not
// running or may wait: the start-up load (load_all, the takeover) and the
// shutdown flush. Every step is bounded by a deadline: libpq's own blocking
// calls (PQconnectdb, PQexec) would wait as long as the kernel lets a dead
// server hang, so the non-blocking calls are driven with poll(2) here.
#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "cache/postgres_conn.hpp"

namespace mtasts::cache {

class PostgresSyncClient {
 public:
  using Clock = std::chrono::steady_clock;
  // Connects at once; ok() says whether it worked, error() why not.
  PostgresSyncClient(const std::string& dsn, Clock::time_point deadline);
  ~PostgresSyncClient();
  PostgresSyncClient(const PostgresSyncClient&) = delete;
  PostgresSyncClient& operator=(const PostgresSyncClient&) = delete;

  bool ok() const { return conn_ != nullptr; }
  const std::string& error() const { return error_; }

  // One statement with parameters (std::nullopt: NULL), or several without;
  // the result of a successful command, or null with error() set (and the
  // connection closed when it no longer works: a late reply, a lost link).
  PgResult exec(const char* sql, const std::vector<std::optional<std::string>>& params,
                Clock::time_point deadline);

 private:
  // Waits for the socket until the deadline; false with error_ set.
  bool wait(bool for_write, Clock::time_point deadline);
  void close(const std::string& why);

  PGconn* conn_ = nullptr;
  std::string error_;
};

}  // namespace mtasts::cache
