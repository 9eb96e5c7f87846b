#pragma once
// PostgreSQL persistence (cache.type postgres, postfix-mta-sts-resolver's
// `dsn`): policies and DANE results shared by a fleet of daemons through one
// database, in mta-stsd's own tables (postgres_sql.hpp), with the Python
// daemon's table taken over at start (postgres_takeover.hpp).
//
// One libpq connection runs on the daemon's io_context with the asynchronous
// API (PQconnectStart/PQconnectPoll, PQsendQueryParams, PQconsumeInput), its
// socket watched with a non-owning stream_descriptor: the database being down
// or slow never holds up an answer. Like RedisStore: a lookup gives up after
// min(command_timeout, 500 ms); no reply to a statement for command_timeout
// drops the link; writes are queued (bounded) while disconnected and sent after
// the reconnect, which backs off from reconnect_min to reconnect_max; the outage
// is logged once, and its end once. Unlike Redis, SQL lists cheaply:
// due_for_refresh, list_policies and list_dane are answered from the shared tables.
//
// libpq runs one statement at a time on a connection: statements wait in two
// queues, lookups first (a query is waiting on them), then writes.
#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/steady_timer.hpp>

#include "cache/record_check.hpp"
#include "cache/store.hpp"
#include "util/deadline_timer.hpp"

struct pg_conn;
struct pg_result;

namespace mtasts::cache {

struct PostgresOptions {
  std::string dsn;  // URL or keyword/value form (postgres_conn.hpp)
  std::chrono::milliseconds connect_timeout{5000};
  std::chrono::milliseconds command_timeout{5000};  // also: no reply for this long = link dead
  std::size_t max_queued_writes = 10000;            // beyond: the oldest queued write is dropped
  std::chrono::milliseconds reconnect_min{1000};
  std::chrono::milliseconds reconnect_max{30000};
};

class PostgresStore final : public PolicyStore {
 public:
  static constexpr std::chrono::milliseconds kFetchTimeoutCap{500};
  static constexpr std::chrono::milliseconds kFlushBudget{2000};

  // Throws std::invalid_argument naming cache.options.dsn when libpq cannot
  // parse the DSN. Starts connecting at once; the connection completes when the
  // io_context runs.
  PostgresStore(boost::asio::io_context& io, PostgresOptions options);
  ~PostgresStore() override;
  PostgresStore(const PostgresStore&) = delete;
  PostgresStore& operator=(const PostgresStore&) = delete;

  std::string describe() const override { return where_; }
  // Blocking, on a short-lived connection of its own (the loop is not running
  // yet), bounded by the timeouts: creates the tables when missing, takes over
  // postfix-mta-sts-resolver's table, then reads every policy. Unreachable: one
  // warning, and the DANE load right after does not wait again.
  bool load_all(const std::function<void(CachedPolicy)>& sink) override;
  void fetch(const std::string& domain, std::function<void(PolicyRead)> done) override;
  void save(const CachedPolicy& policy) override;
  void remove(const std::string& domain) override;
  void load_all_dane(const std::function<void(CachedDane)>& sink) override;
  void fetch_dane(const std::string& destination, std::function<void(DaneRead)> done) override;
  void save_dane(const CachedDane& dane) override;
  void due_for_refresh(std::int64_t now, std::int64_t checked_before, std::int64_t expires_before,
                       std::size_t limit,
                       std::function<void(std::vector<RefreshDue>)> done) override;
  void confirm(const std::string& domain, const std::string& txt_id,
               std::int64_t checked_at) override;
  void list_policies(std::int64_t now, std::size_t limit,
                     std::function<void(std::vector<CachedPolicy>)> done) override;
  void list_dane(std::int64_t now, std::size_t limit,
                 std::function<void(std::vector<CachedDane>)> done) override;
  std::vector<StoreErrorCounts> error_counts() const override {
    return {errors_.snapshot("postgres")};
  }
  // Shutdown: the writes not yet acknowledged go over a blocking connection of
  // their own, at most kFlushBudget (the loop may be the caller: it cannot run).
  // The upserts are idempotent, so one also in flight on the live link is harmless.
  void flush() override;

  bool connected() const { return state_ == LinkState::ready; }
  std::size_t queued_writes() const { return writes_.size() + (in_flight_write_ ? 1 : 0); }

 private:
  enum class LinkState { down, connecting, handshaking, ready };
  using Clock = std::chrono::steady_clock;
  // A result (success: tuples or command ok) or why there is none.
  using ReadCompletion = std::function<void(const pg_result* result, const std::string& failure)>;
  struct Write {
    const char* sql;
    std::vector<std::string> params;
  };
  // Whether the newest queued write for `key` (a domain or a DANE destination)
  // is its removal, not a later save (upsert: that kind's statement).
  bool removal_queued(const std::string& key, const char* upsert) const;
  struct Read {
    const char* sql;
    std::vector<std::string> params;
    std::string name;  // for logs
    ReadCompletion complete;
    std::unique_ptr<boost::asio::steady_timer> timer;
  };
  // The one statement on the wire.
  struct Current {
    enum class Kind { schema, read, write } kind;
    std::uint64_t read_id = 0;  // kind read: its entry in reads_ (gone once timed out)
    Clock::time_point sent_at;
  };

  void connect();
  void connect_step(int polling_status);
  void handshake();
  void drop_link(const std::string& why);
  void fail_reads(const std::string& why);
  bool watch();
  void unwatch();
  void wait_readable();
  void wait_writable();
  void on_readable();
  void on_writable();
  void keep_result(pg_result* result);
  void finish_current();
  void pump();
  bool send(const char* sql, const std::vector<std::string>& params, bool simple = false);
  void start_read(const char* sql, std::vector<std::string> params, std::string name,
                  std::chrono::milliseconds deadline, ReadCompletion complete);
  void finish_read(std::uint64_t id, const pg_result* result, const std::string& failure);
  void enqueue(Write write);
  void arm_timer();
  void on_timer();
  std::optional<Clock::time_point> next_deadline() const;
  std::chrono::milliseconds fetch_timeout() const;

  boost::asio::io_context& io_;
  PostgresOptions options_;
  std::string where_;

  pg_conn* conn_ = nullptr;
  boost::asio::posix::stream_descriptor socket_;  // never owns the fd: libpq closes it
  int watched_fd_ = -1;
  std::uint64_t watch_generation_ = 0;  // waits of an earlier socket are stale
  bool read_armed_ = false;
  bool write_armed_ = false;
  bool want_flush_ = false;           // PQflush has more to send
  bool connect_wants_write_ = false;  // what PQconnectPoll last asked to wait for
  LinkState state_ = LinkState::down;
  Clock::time_point link_deadline_{};
  Clock::time_point next_attempt_{};
  std::chrono::milliseconds backoff_;

  std::optional<Current> current_;
  std::optional<Write> in_flight_write_;
  // Of the current statement (several for the schema's): the first failed
  // result, else the last; PQclear()ed when the statement completes.
  pg_result* kept_result_ = nullptr;
  bool kept_failed_ = false;
  std::uint64_t next_id_ = 1;
  std::unordered_map<std::uint64_t, Read> reads_;
  std::deque<std::uint64_t> read_queue_;
  std::deque<Write> writes_;

  util::DeadlineTimer timer_;

  std::optional<Clock::time_point> load_unreachable_at_;
  bool ever_connected_ = false;
  bool outage_logged_ = false;
  bool drops_logged_ = false;
  bool write_failing_ = false;
  bool stopping_ = false;
  StoreErrorCounters errors_;
  LogOnce rejected_;
  std::shared_ptr<int> alive_ = std::make_shared<int>(0);  // asio handlers check it
};

}  // namespace mtasts::cache
