#include "cache/postgres_store.hpp"

#include <libpq-fe.h>

#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <algorithm>
#include <boost/asio/post.hpp>

#include "cache/postgres_conn.hpp"
#include "cache/postgres_sql.hpp"
#include "cache/postgres_sync.hpp"
#include "cache/postgres_takeover.hpp"
#include "dane/level.hpp"
#include "util/log_text.hpp"

namespace mtasts::cache {

namespace {

constexpr std::size_t kMaxDomainLength = 253;  // RFC 1035 §2.3.4
// A DANE destination may be Postfix's "[host]:port" next hop: a name and 8 more.
constexpr std::size_t kMaxDestinationLength = kMaxDomainLength + 8;
constexpr std::size_t kMaxLoggedBadRows = 10;
// A start-up load that could not connect spares the next one its wait for this long.
constexpr std::chrono::seconds kUnreachableMemory{60};

std::string num(std::int64_t value) { return std::to_string(value); }

std::vector<std::optional<std::string>> nullable_params(const std::vector<std::string>& params) {
  return {params.begin(), params.end()};
}

}  // namespace

PostgresStore::PostgresStore(boost::asio::io_context& io, PostgresOptions options)
    : io_(io),
      options_(std::move(options)),
      where_(check_postgres_dsn(options_.dsn)),
      socket_(io),
      backoff_(options_.reconnect_min),
      timer_(io) {
  if (options_.reconnect_min.count() < 1) options_.reconnect_min = std::chrono::milliseconds(1);
  if (options_.reconnect_max < options_.reconnect_min)
    options_.reconnect_max = options_.reconnect_min;
  backoff_ = options_.reconnect_min;
  if (options_.max_queued_writes == 0) options_.max_queued_writes = 1;
  connect();
}

PostgresStore::~PostgresStore() {
  stopping_ = true;
  alive_.reset();  // handlers still queued in the io_context become no-ops
  timer_.cancel();
  unwatch();
  if (conn_ != nullptr) PQfinish(conn_);
  conn_ = nullptr;
  PQclear(kept_result_);
  for (auto& [id, read] : reads_) {
    if (read.timer) read.timer->cancel();
    boost::asio::post(io_, [complete = std::move(read.complete)] {
      complete(nullptr, "the store is shutting down");
    });
  }
  reads_.clear();
}

// ---- the socket ----------------------------------------------------------------
// libpq owns the socket and may replace it while connecting (another host of
// the DSN, a retry without SSL): it is watched anew whenever PQsocket changes,
// and release()d, never closed, before libpq closes it.

bool PostgresStore::watch() {
  if (conn_ == nullptr) return false;
  const int fd = PQsocket(conn_);
  if (fd < 0) return false;
  if (fd == watched_fd_ && socket_.is_open()) return true;
  unwatch();
  boost::system::error_code ec;
  socket_.assign(fd, ec);
  if (ec) {
    spdlog::error("postgres {}: cannot watch socket {}: {}", where_, fd, ec.message());
    return false;
  }
  watched_fd_ = fd;
  return true;
}

void PostgresStore::unwatch() {
  ++watch_generation_;  // waits still queued belong to the old socket
  read_armed_ = false;
  write_armed_ = false;
  watched_fd_ = -1;
  if (!socket_.is_open()) return;
  try {
    socket_.release();  // cancels the waits; the fd stays open for libpq
  } catch (const std::exception& e) {
    spdlog::error("postgres {}: releasing the socket: {}", where_, e.what());
  }
}

void PostgresStore::wait_readable() {
  if (read_armed_ || !watch()) return;
  read_armed_ = true;
  socket_.async_wait(boost::asio::posix::stream_descriptor::wait_read,
                     [this, alive = std::weak_ptr<int>(alive_),
                      generation = watch_generation_](const boost::system::error_code& ec) {
                       if (alive.expired() || generation != watch_generation_) return;
                       read_armed_ = false;
                       if (!ec) on_readable();
                     });
}

void PostgresStore::wait_writable() {
  if (write_armed_ || !watch()) return;
  write_armed_ = true;
  socket_.async_wait(boost::asio::posix::stream_descriptor::wait_write,
                     [this, alive = std::weak_ptr<int>(alive_),
                      generation = watch_generation_](const boost::system::error_code& ec) {
                       if (alive.expired() || generation != watch_generation_) return;
                       write_armed_ = false;
                       if (!ec) on_writable();
                     });
}

// ---- connection ----------------------------------------------------------------

void PostgresStore::connect() {
  state_ = LinkState::connecting;
  conn_ = start_postgres_connection(options_.dsn);
  if (conn_ == nullptr || PQstatus(conn_) == CONNECTION_BAD) {
    drop_link(postgres_error(conn_));
    return;
  }
  route_postgres_notices(conn_);
  link_deadline_ = Clock::now() + options_.connect_timeout;
  arm_timer();
  // libpq: before the first PQconnectPoll, act as if it had said "writing".
  connect_step(PGRES_POLLING_WRITING);
}

void PostgresStore::connect_step(int polling_status) {
  switch (static_cast<PostgresPollingStatusType>(polling_status)) {
    case PGRES_POLLING_OK:
      handshake();
      return;
    case PGRES_POLLING_READING:
    case PGRES_POLLING_WRITING:
      connect_wants_write_ = polling_status == PGRES_POLLING_WRITING;
      if (!watch()) return drop_link(postgres_error(conn_));
      if (connect_wants_write_) {
        wait_writable();
      } else {
        wait_readable();
      }
      return;
    default:
      drop_link(postgres_error(conn_));
  }
}

// Connected: the tables are created when missing before anything else is sent
// (a daemon may be the fleet's first, and load_all may have found the database
// down at start).
void PostgresStore::handshake() {
  state_ = LinkState::handshaking;
  if (PQsetnonblocking(conn_, 1) != 0) return drop_link(postgres_error(conn_));
  link_deadline_ = Clock::now() + options_.command_timeout;
  if (!send(pgsql::kCreateSchema, {}, true)) return drop_link(postgres_error(conn_));
  current_ = Current{Current::Kind::schema, 0, Clock::now()};
  arm_timer();
}

void PostgresStore::drop_link(const std::string& why) {
  if (state_ == LinkState::down) return;
  const bool was_ready = state_ == LinkState::ready;
  unwatch();
  if (conn_ != nullptr) PQfinish(conn_);
  conn_ = nullptr;
  PQclear(kept_result_);
  kept_result_ = nullptr;
  kept_failed_ = false;
  want_flush_ = false;
  state_ = LinkState::down;
  // The upserts are idempotent: resending one that may have arrived is harmless.
  if (in_flight_write_) {
    writes_.push_front(std::move(*in_flight_write_));
    in_flight_write_.reset();
  }
  while (writes_.size() > options_.max_queued_writes) {
    writes_.pop_front();
    errors_.write();
  }
  std::optional<Current> lost;
  lost.swap(current_);
  if (!stopping_) {
    if (!outage_logged_) {
      outage_logged_ = true;
      spdlog::warn("postgres {}: {} ({}); answering from memory, queueing writes and {}", where_,
                   was_ready || ever_connected_ ? "connection lost" : "cannot connect", why,
                   was_ready || ever_connected_ ? "reconnecting" : "retrying");
    } else {
      spdlog::debug("postgres {}: connection attempt failed: {}", where_, why);
    }
    if (was_ready) backoff_ = options_.reconnect_min;
    next_attempt_ = Clock::now() + backoff_;
    backoff_ = std::min(backoff_ * 2, options_.reconnect_max);
    arm_timer();
  }
  // Last: the callers' completions may call back into the store.
  if (lost && lost->kind == Current::Kind::read) {
    finish_read(lost->read_id, nullptr, "the connection was lost: " + why);
  }
  fail_reads("not connected: " + why);
}

void PostgresStore::fail_reads(const std::string& why) {
  std::deque<std::uint64_t> queued;
  queued.swap(read_queue_);
  for (const auto id : queued) finish_read(id, nullptr, why);
}

// ---- timers: connect/handshake deadline, reply watchdog, reconnect back-off --------

std::optional<PostgresStore::Clock::time_point> PostgresStore::next_deadline() const {
  switch (state_) {
    case LinkState::down:
      return next_attempt_;
    case LinkState::connecting:
    case LinkState::handshaking:
      return link_deadline_;
    case LinkState::ready:
      if (!current_) return std::nullopt;
      return current_->sent_at + options_.command_timeout;
  }
  return std::nullopt;
}

void PostgresStore::arm_timer() {
  if (stopping_) return;
  const auto deadline = next_deadline();
  if (!deadline) return;  // an armed timer just finds nothing to do
  timer_.arm(*deadline, alive_, [this] { on_timer(); });
}

void PostgresStore::on_timer() {
  const auto now = Clock::now();
  switch (state_) {
    case LinkState::down:
      if (now >= next_attempt_) connect();
      break;
    case LinkState::connecting:
      if (now >= link_deadline_) {
        drop_link(fmt::format("no connection within {} ms", options_.connect_timeout.count()));
      }
      break;
    case LinkState::handshaking:
      if (now >= link_deadline_) {
        drop_link(fmt::format("creating the tables got no reply within {} ms",
                              options_.command_timeout.count()));
      }
      break;
    case LinkState::ready:
      // No reply for command_timeout: a stopped or unreachable server that TCP
      // has not noticed yet.
      if (current_ && now - current_->sent_at >= options_.command_timeout) {
        drop_link(fmt::format("no reply within {} ms", options_.command_timeout.count()));
      }
      break;
  }
  arm_timer();
}

// ---- statements and results ----------------------------------------------------

bool PostgresStore::send(const char* sql, const std::vector<std::string>& params, bool simple) {
  if (conn_ == nullptr) return false;
  std::vector<const char*> values;
  for (const auto& param : params) values.push_back(param.c_str());
  const int sent = simple ? PQsendQuery(conn_, sql)
                          : PQsendQueryParams(conn_, sql, static_cast<int>(values.size()), nullptr,
                                              values.data(), nullptr, nullptr, 0);
  if (sent == 0) return false;
  const int flushed = PQflush(conn_);
  if (flushed < 0) return false;
  want_flush_ = flushed == 1;
  if (want_flush_) wait_writable();
  wait_readable();
  return true;
}

void PostgresStore::on_writable() {
  if (conn_ == nullptr) return;
  if (state_ == LinkState::connecting) {
    if (connect_wants_write_) connect_step(PQconnectPoll(conn_));
    return;
  }
  if (!want_flush_) return;
  const int flushed = PQflush(conn_);
  if (flushed < 0) return drop_link(postgres_error(conn_));
  want_flush_ = flushed == 1;
  if (want_flush_) wait_writable();
}

void PostgresStore::on_readable() {
  if (conn_ == nullptr) return;
  if (state_ == LinkState::connecting) {
    if (!connect_wants_write_) connect_step(PQconnectPoll(conn_));
    return;
  }
  // Also while idle: the server closing the connection shows here at once.
  if (PQconsumeInput(conn_) == 0) return drop_link(postgres_error(conn_));
  if (want_flush_) {
    const int flushed = PQflush(conn_);
    if (flushed < 0) return drop_link(postgres_error(conn_));
    want_flush_ = flushed == 1;
    if (want_flush_) wait_writable();
  }
  while (conn_ != nullptr && current_ && PQisBusy(conn_) == 0) {
    PGresult* result = PQgetResult(conn_);
    if (result == nullptr) {
      finish_current();  // may send the next statement (current_ set again)
    } else {
      keep_result(result);
    }
  }
  if (conn_ == nullptr) return;
  if (PQstatus(conn_) == CONNECTION_BAD) return drop_link(postgres_error(conn_));
  wait_readable();
  pump();
}

void PostgresStore::keep_result(pg_result* result) {
  const auto status = PQresultStatus(result);
  const bool failed = status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK;
  if (kept_failed_) {
    PQclear(result);
    return;
  }
  PQclear(kept_result_);
  kept_result_ = result;
  kept_failed_ = failed;
}

void PostgresStore::finish_current() {
  const Current done = *current_;
  current_.reset();
  PgResult result(kept_result_);
  const bool failed = kept_failed_ || !result;
  kept_result_ = nullptr;
  kept_failed_ = false;
  const std::string why = result ? postgres_result_error(result.get()) : "no result";
  const bool link_bad = PQstatus(conn_) == CONNECTION_BAD;
  switch (done.kind) {
    case Current::Kind::schema:
      if (failed) {
        drop_link("cannot create mta-stsd's tables: " + why);
        return;
      }
      state_ = LinkState::ready;
      backoff_ = options_.reconnect_min;
      if (outage_logged_) {
        spdlog::info("postgres {}: connected again; sending {} queued writes", where_,
                     writes_.size());
      } else if (!ever_connected_) {
        spdlog::info("postgres {}: connected", where_);
      }
      ever_connected_ = true;
      outage_logged_ = false;
      drops_logged_ = false;
      return;
    case Current::Kind::read:
      finish_read(done.read_id, failed ? nullptr : result.get(), failed ? why : std::string());
      return;
    case Current::Kind::write: {
      std::optional<Write> write;
      write.swap(in_flight_write_);
      if (!failed) {
        if (write_failing_) {
          write_failing_ = false;
          spdlog::info("postgres {}: writes accepted again", where_);
        }
        return;
      }
      if (link_bad) {
        // Lost with the link, not refused: sent again after the reconnect.
        if (write) writes_.push_front(std::move(*write));
        return;
      }
      // Refused (permissions, a full disk, a read-only standby): retrying the
      // same statement would not help.
      errors_.write();
      if (!write_failing_) {
        write_failing_ = true;
        spdlog::error("postgres {}: write refused: {}", where_, why);
      }
      return;
    }
  }
}

// One statement at a time on the connection: lookups first, then writes.
void PostgresStore::pump() {
  while (state_ == LinkState::ready && !current_) {
    if (!read_queue_.empty()) {
      const auto id = read_queue_.front();
      read_queue_.pop_front();
      auto it = reads_.find(id);
      if (it == reads_.end()) continue;  // timed out while waiting
      if (!send(it->second.sql, it->second.params)) {
        read_queue_.push_front(id);
        return drop_link(postgres_error(conn_));
      }
      current_ = Current{Current::Kind::read, id, Clock::now()};
    } else if (!writes_.empty()) {
      Write write = std::move(writes_.front());
      writes_.pop_front();
      if (!send(write.sql, write.params)) {
        writes_.push_front(std::move(write));
        return drop_link(postgres_error(conn_));
      }
      in_flight_write_ = std::move(write);
      current_ = Current{Current::Kind::write, 0, Clock::now()};
    } else {
      break;
    }
  }
  arm_timer();
}

std::chrono::milliseconds PostgresStore::fetch_timeout() const {
  return std::min(options_.command_timeout, kFetchTimeoutCap);
}

// complete runs exactly once: with the result, or with why there is none (not
// connected, no reply by the deadline, an error, the link lost, teardown).
void PostgresStore::start_read(const char* sql, std::vector<std::string> params, std::string name,
                               std::chrono::milliseconds deadline, ReadCompletion complete) {
  // Not before the tables are known to exist (the handshake is done).
  if (state_ != LinkState::ready) {
    errors_.read();
    complete(nullptr, "not connected");
    return;
  }
  const std::uint64_t id = next_id_++;
  auto timer = std::make_unique<boost::asio::steady_timer>(io_, deadline);
  timer->async_wait([this, id, deadline,
                     alive = std::weak_ptr<int>(alive_)](const boost::system::error_code& ec) {
    if (alive.expired() || ec == boost::asio::error::operation_aborted) return;
    if (auto it = reads_.find(id); it != reads_.end()) {
      spdlog::debug("postgres {}: reading '{}' timed out", where_,
                    util::log_text(it->second.name, kMaxDestinationLength));
    }
    finish_read(id, nullptr, fmt::format("no reply within {} ms", deadline.count()));
  });
  reads_.emplace(
      id, Read{sql, std::move(params), std::move(name), std::move(complete), std::move(timer)});
  read_queue_.push_back(id);
  pump();
}

void PostgresStore::finish_read(std::uint64_t id, const pg_result* result,
                                const std::string& failure) {
  auto node = reads_.extract(id);
  if (node.empty()) return;  // already answered (timed out)
  auto& read = node.mapped();
  if (read.timer) read.timer->cancel();
  if (stopping_) {
    boost::asio::post(io_, [complete = std::move(read.complete)] {
      complete(nullptr, "the store is shutting down");
    });
    return;
  }
  if (result == nullptr) errors_.read();
  read.complete(result, failure);
}

void PostgresStore::enqueue(Write write) {
  writes_.push_back(std::move(write));
  if (writes_.size() > options_.max_queued_writes) {
    writes_.pop_front();
    errors_.write();
    if (!drops_logged_) {
      drops_logged_ = true;
      spdlog::warn("postgres {}: more than {} writes waiting; dropping the oldest", where_,
                   options_.max_queued_writes);
    }
  }
  pump();
}

// ---- the PolicyStore operations ------------------------------------------------

// The completions below use `this` only with a result in hand, which only a
// live store hands over; teardown calls them with a failure alone.
bool PostgresStore::removal_queued(const std::string& key, const char* upsert) const {
  for (auto it = writes_.rbegin(); it != writes_.rend(); ++it) {
    if (it->params.empty() || it->params[0] != key) continue;
    if (it->sql == pgsql::kRemove) return true;
    if (it->sql == upsert) return false;
  }
  return false;
}

void PostgresStore::fetch(const std::string& domain, std::function<void(PolicyRead)> done) {
  if (domain.empty() || domain.size() > kMaxDomainLength) return done(PolicyRead::absent());
  // Reads go before queued writes: a removal not yet sent must not be undone by
  // the row it will delete (a tiered store would copy that row back locally).
  if (removal_queued(domain, pgsql::kUpsertPolicy)) return done(PolicyRead::absent());
  start_read(pgsql::kSelectPolicy, {domain}, domain, fetch_timeout(),
             [this, domain, where = where_, done = std::move(done)](const pg_result* result,
                                                                    const std::string& failure) {
               if (result == nullptr) {
                 return done(PolicyRead::failed(fmt::format("postgres {}: {}", where, failure)));
               }
               if (PQntuples(result) == 0) return done(PolicyRead::absent());
               CachedPolicy policy;
               if (auto why = pgsql::read_policy_row(result, 0, policy, wall_clock_now())) {
                 // Read again on every memory miss: logged once.
                 if (rejected_.first("policy:" + domain, *why)) {
                   spdlog::warn("postgres {}: ignoring unusable row for '{}': {}", where_,
                                util::log_text(domain), *why);
                 }
                 return done(PolicyRead::absent());
               }
               done(PolicyRead::found(std::move(policy)));
             });
}

void PostgresStore::fetch_dane(const std::string& destination, std::function<void(DaneRead)> done) {
  if (destination.empty() || destination.size() > kMaxDestinationLength) {
    return done(DaneRead::absent());
  }
  if (removal_queued(destination, pgsql::kUpsertDane)) return done(DaneRead::absent());
  start_read(pgsql::kSelectDane, {destination}, destination, fetch_timeout(),
             [this, destination, where = where_, done = std::move(done)](
                 const pg_result* result, const std::string& failure) {
               if (result == nullptr) {
                 return done(DaneRead::failed(fmt::format("postgres {}: {}", where, failure)));
               }
               if (PQntuples(result) == 0) return done(DaneRead::absent());
               CachedDane dane;
               if (auto why = pgsql::read_dane_row(result, 0, dane, wall_clock_now())) {
                 if (rejected_.first("dane:" + destination, *why)) {
                   spdlog::warn("postgres {}: ignoring unusable DANE row for '{}': {}", where_,
                                util::log_text(destination), *why);
                 }
                 return done(DaneRead::absent());
               }
               done(DaneRead::found(std::move(dane)));
             });
}

void PostgresStore::save(const CachedPolicy& policy) {
  if (policy.domain.empty() || policy.domain.size() > kMaxDomainLength) return;
  enqueue(Write{pgsql::kUpsertPolicy,
                {policy.domain, policy.txt_id, policy.body, num(policy.fetched_at),
                 num(policy.expires_at), num(policy.checked_at)}});
}

void PostgresStore::save_dane(const CachedDane& dane) {
  if (dane.destination.empty() || dane.destination.size() > kMaxDestinationLength) return;
  enqueue(Write{pgsql::kUpsertDane,
                {dane.destination, std::string(dane::to_string(dane.level)), dane.summary,
                 num(dane.fetched_at), num(dane.expires_at), num(dane.keep_until)}});
}

void PostgresStore::remove(const std::string& domain) {
  if (domain.empty() || domain.size() > kMaxDestinationLength) return;
  enqueue(Write{pgsql::kRemove, {domain}});
}

void PostgresStore::confirm(const std::string& domain, const std::string& txt_id,
                            std::int64_t checked_at) {
  if (domain.empty() || domain.size() > kMaxDomainLength) return;
  enqueue(Write{pgsql::kConfirm, {domain, txt_id, num(checked_at)}});
}

void PostgresStore::due_for_refresh(std::int64_t now, std::int64_t checked_before,
                                    std::int64_t expires_before, std::size_t limit,
                                    std::function<void(std::vector<RefreshDue>)> done) {
  start_read(
      pgsql::kDueForRefresh,
      {num(now), num(checked_before), num(expires_before), num(static_cast<std::int64_t>(limit))},
      "the policies due for refresh", options_.command_timeout,
      [where = where_, done = std::move(done)](const pg_result* result,
                                               const std::string& failure) {
        std::vector<RefreshDue> due;
        if (result == nullptr) {
          // Memory's own sweep still runs; the next sweep asks again.
          spdlog::warn("postgres {}: cannot list the policies due for refresh: {}", where, failure);
          return done(std::move(due));
        }
        for (int i = 0; i < PQntuples(result); ++i) {
          RefreshDue row;
          row.domain = pgsql::text_column(result, i, 0);
          row.txt_id = pgsql::text_column(result, i, 1);
          row.expiring_or_aging = pgsql::text_column(result, i, 2) == "t";
          due.push_back(std::move(row));
        }
        done(std::move(due));
      });
}

void PostgresStore::list_policies(std::int64_t now, std::size_t limit,
                                  std::function<void(std::vector<CachedPolicy>)> done) {
  start_read(pgsql::kListPolicies, {num(now), num(static_cast<std::int64_t>(limit))},
             "the policies", options_.command_timeout,
             [where = where_, now, done = std::move(done)](const pg_result* result,
                                                           const std::string& failure) {
               std::vector<CachedPolicy> out;
               if (result == nullptr) {
                 spdlog::warn("postgres {}: cannot list the policies: {}", where, failure);
                 return done(std::move(out));
               }
               for (int i = 0; i < PQntuples(result); ++i) {
                 CachedPolicy policy;
                 // Unusable rows are logged when fetched or loaded.
                 if (pgsql::read_policy_row(result, i, policy, now)) continue;
                 out.push_back(std::move(policy));
               }
               done(std::move(out));
             });
}

void PostgresStore::list_dane(std::int64_t now, std::size_t limit,
                              std::function<void(std::vector<CachedDane>)> done) {
  start_read(pgsql::kListDane, {num(now), num(static_cast<std::int64_t>(limit))},
             "the DANE results", options_.command_timeout,
             [where = where_, now, done = std::move(done)](const pg_result* result,
                                                           const std::string& failure) {
               std::vector<CachedDane> out;
               if (result == nullptr) {
                 spdlog::warn("postgres {}: cannot list the DANE results: {}", where, failure);
                 return done(std::move(out));
               }
               for (int i = 0; i < PQntuples(result); ++i) {
                 CachedDane dane;
                 // Unusable rows are logged when fetched or loaded.
                 if (pgsql::read_dane_row(result, i, dane, now)) continue;
                 out.push_back(std::move(dane));
               }
               done(std::move(out));
             });
}

// ---- start-up loads ------------------------------------------------------------

bool PostgresStore::load_all(const std::function<void(CachedPolicy)>& sink) {
  const auto started = Clock::now();
  if (load_unreachable_at_ && started - *load_unreachable_at_ < kUnreachableMemory) {
    errors_.read();
    return false;
  }
  PostgresSyncClient client(options_.dsn, started + options_.connect_timeout);
  if (!client.ok()) {
    load_unreachable_at_ = Clock::now();
    errors_.read();
    spdlog::warn("postgres {}: cannot load policies at start ({}); starting with what memory has",
                 where_, client.error());
    return false;
  }
  load_unreachable_at_.reset();
  auto step = [&] { return Clock::now() + options_.command_timeout; };
  if (!client.exec(pgsql::kCreateSchema, {}, step())) {
    errors_.read();
    spdlog::error("postgres {}: cannot create mta-stsd's tables ({}); not loading policies", where_,
                  client.error());
    return false;
  }
  // What postfix-mta-sts-resolver left in the same database, into our table
  // first: the load below then hands it over with the rest.
  take_over_postgres_resolver_table(client, where_, wall_clock_now(),
                                    Clock::now() + 6 * options_.command_timeout);
  auto rows = client.exec(pgsql::kSelectPolicies, {}, step());
  if (!rows) {
    errors_.read();
    spdlog::warn("postgres {}: cannot read policies at start ({}); starting with what memory has",
                 where_, client.error());
    return false;
  }
  const auto now = wall_clock_now();
  std::size_t loaded = 0, bad = 0;
  for (int i = 0; i < PQntuples(rows.get()); ++i) {
    CachedPolicy policy;
    if (auto why = pgsql::read_policy_row(rows.get(), i, policy, now)) {
      if (bad++ < kMaxLoggedBadRows && rejected_.first("policy:" + policy.domain, *why)) {
        spdlog::warn("postgres {}: skipping unusable row for '{}': {}", where_,
                     util::log_text(policy.domain), *why);
      }
      continue;
    }
    ++loaded;
    sink(std::move(policy));
  }
  if (bad > kMaxLoggedBadRows) {
    spdlog::warn("postgres {}: {} unusable rows skipped in all", where_, bad);
  }
  spdlog::info("postgres {}: loaded {} policies", where_, loaded);
  return true;
}

void PostgresStore::load_all_dane(const std::function<void(CachedDane)>& sink) {
  const auto started = Clock::now();
  if (load_unreachable_at_ && started - *load_unreachable_at_ < kUnreachableMemory) {
    spdlog::info("postgres {}: not loading DANE results at start: unreachable moments ago", where_);
    errors_.read();
    return;
  }
  PostgresSyncClient client(options_.dsn, started + options_.connect_timeout);
  const auto now = wall_clock_now();
  PgResult rows;
  if (client.ok()) {
    const auto deadline = Clock::now() + options_.command_timeout;
    if (client.exec(pgsql::kCreateSchema, {}, deadline)) {
      // As SqliteStore does at each start; here for the whole fleet. Failing
      // is harmless: the rows are not loaded, and dropped at a later start.
      if (auto purged = client.exec(pgsql::kPurgeStaleDane, {num(now)}, deadline)) {
        if (const std::string gone = PQcmdTuples(purged.get()); gone != "0") {
          spdlog::info("postgres {}: dropped {} DANE results past their keep time", where_, gone);
        }
      }
      rows = client.exec(pgsql::kSelectDanes, {num(now)}, deadline);
    }
  }
  if (!rows) {
    if (!client.ok()) load_unreachable_at_ = Clock::now();
    errors_.read();
    spdlog::warn("postgres {}: cannot load DANE results at start ({})", where_, client.error());
    return;
  }
  std::size_t loaded = 0, bad = 0;
  for (int i = 0; i < PQntuples(rows.get()); ++i) {
    CachedDane dane;
    if (auto why = pgsql::read_dane_row(rows.get(), i, dane, now)) {
      if (bad++ < kMaxLoggedBadRows && rejected_.first("dane:" + dane.destination, *why)) {
        spdlog::warn("postgres {}: skipping unusable DANE row for '{}': {}", where_,
                     util::log_text(dane.destination), *why);
      }
      continue;
    }
    ++loaded;
    sink(std::move(dane));
  }
  spdlog::info("postgres {}: loaded {} DANE results", where_, loaded);
}

// ---- flush ---------------------------------------------------------------------

void PostgresStore::flush() {
  if (writes_.empty() && !in_flight_write_) return;
  const auto deadline = Clock::now() + kFlushBudget;
  std::vector<const Write*> pending;
  if (in_flight_write_) pending.push_back(&*in_flight_write_);
  for (const auto& write : writes_) pending.push_back(&write);
  PostgresSyncClient client(options_.dsn,
                            std::min(Clock::now() + options_.connect_timeout, deadline));
  // The live link may never have come up: the tables may not exist yet.
  if (client.ok()) client.exec(pgsql::kCreateSchema, {}, deadline);
  std::size_t sent = 0;
  for (const Write* write : pending) {
    if (!client.ok()) break;
    if (!client.exec(write->sql, nullable_params(write->params), deadline)) {
      if (!client.ok()) break;
      errors_.write();  // refused: not retried, as on the live link
    }
    ++sent;
  }
  // The in-flight one stays: its reply on the live link is still awaited.
  const std::size_t from_queue = sent - std::min<std::size_t>(sent, in_flight_write_ ? 1 : 0);
  writes_.erase(writes_.begin(), writes_.begin() + static_cast<std::ptrdiff_t>(
                                                       std::min(from_queue, writes_.size())));
  if (sent < pending.size()) {
    spdlog::warn("postgres {}: {} writes not sent at shutdown ({})", where_, pending.size() - sent,
                 client.ok() ? "out of time" : client.error());
  }
}

}  // namespace mtasts::cache
