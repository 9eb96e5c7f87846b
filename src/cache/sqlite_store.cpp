#include "cache/sqlite_store.hpp"

#include <sqlite3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "sts/policy.hpp"

namespace mtasts::cache {

namespace {

constexpr const char* kSchemaTag = "mta-stsd-policies/1";
constexpr std::size_t kMaxQueued = 200000;  // bound on writes waiting for a failing disk

// Statement wrapper: finalized on every path.
struct Statement {
  sqlite3_stmt* stmt = nullptr;
  Statement(sqlite3* db, const char* sql) {
    if (sqlite3_prepare_v2(db, sql, -1, &stmt, nullptr) != SQLITE_OK) stmt = nullptr;
  }
  ~Statement() { sqlite3_finalize(stmt); }
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;
};

bool exec(sqlite3* db, const char* sql, std::string& error) {
  char* message = nullptr;
  if (sqlite3_exec(db, sql, nullptr, nullptr, &message) != SQLITE_OK) {
    error = message != nullptr ? message : sqlite3_errmsg(db);
    sqlite3_free(message);
    return false;
  }
  return true;
}

std::string text_column(sqlite3_stmt* stmt, int column) {
  const auto* text = sqlite3_column_text(stmt, column);
  return text == nullptr ? std::string{} : std::string(reinterpret_cast<const char*>(text),
                                                       static_cast<std::size_t>(sqlite3_column_bytes(stmt, column)));
}

}  // namespace

SqliteStore::SqliteStore(std::string path, std::chrono::milliseconds busy_timeout)
    : path_(std::move(path)), busy_timeout_(busy_timeout) {
  std::error_code ec;
  const auto parent = std::filesystem::path(path_).parent_path();
  if (!parent.empty()) std::filesystem::create_directories(parent, ec);

  std::string error;
  if (!open_and_check(error)) {
    close_db();
    struct stat st {};
    const std::string dir = parent.empty() ? std::string(".") : parent.string();
    if (::stat(path_.c_str(), &st) == 0 && ::access(dir.c_str(), W_OK) != 0) {
      // A read-only disk (or directory): what was learned before still counts,
      // so load it; new policies then live in memory only.
      const std::string why = std::strerror(errno);
      std::string ro_error;
      if (open_read_only(ro_error)) {
        read_only_ = true;
        spdlog::error("cache database {}: {} ({}: {}); its policies are loaded read-only, new "
                      "policies are kept in memory only",
                      path_, error, dir, why);
        return;
      }
      close_db();
      spdlog::error("cache database {}: {} ({}: {}), and read-only access failed too: {}; "
                    "policies will be kept in memory only",
                    path_, error, dir, why, ro_error);
      return;
    }
    if (::stat(path_.c_str(), &st) == 0) {
      // Never delete what we cannot read: an admin may want it back.
      const std::string aside = path_ + ".unreadable-" + std::to_string(std::time(nullptr));
      if (std::rename(path_.c_str(), aside.c_str()) == 0) {
        for (const char* suffix : {"-wal", "-shm"}) {
          std::rename((path_ + suffix).c_str(), (aside + suffix).c_str());
        }
        moved_aside_ = aside;
        spdlog::error("cache database {}: {}; moved it aside to {} and starting with an empty cache",
                      path_, error, aside);
      } else {
        spdlog::error("cache database {}: {}; cannot move it aside ({}): policies will be kept "
                      "in memory only",
                      path_, error, std::strerror(errno));
        return;
      }
      error.clear();
      if (!open_and_check(error)) {
        close_db();
      }
    }
    if (db_ == nullptr) {
      spdlog::error("cache database {}: {}: policies will be kept in memory only", path_, error);
      return;
    }
  }
  writer_ = std::thread([this] { writer_loop(); });
}

SqliteStore::~SqliteStore() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  if (writer_.joinable()) writer_.join();
  close_db();
}

bool SqliteStore::open_read_only(std::string& error) {
  // immutable=1: SQLite reads the file as it is, without the -shm/-wal files a
  // read-only filesystem cannot hold (writes not yet checkpointed are not seen).
  std::string uri = "file:";
  for (const char c : path_) {
    if (c == '%' || c == '?' || c == '#') {
      uri += fmt::format("%{:02X}", static_cast<unsigned char>(c));
    } else {
      uri += c;
    }
  }
  uri += "?immutable=1";
  if (int rc = sqlite3_open_v2(uri.c_str(), &db_, SQLITE_OPEN_READONLY | SQLITE_OPEN_URI |
                                                       SQLITE_OPEN_FULLMUTEX,
                               nullptr);
      rc != SQLITE_OK) {
    error = db_ != nullptr ? sqlite3_errmsg(db_) : sqlite3_errstr(rc);
    return false;
  }
  Statement tag(db_, "SELECT value FROM mta_stsd_meta WHERE key = 'schema'");
  if (tag.stmt == nullptr || sqlite3_step(tag.stmt) != SQLITE_ROW ||
      text_column(tag.stmt, 0) != kSchemaTag) {
    error = tag.stmt == nullptr ? sqlite3_errmsg(db_) : "not an mta-stsd cache database";
    return false;
  }
  return true;
}

void SqliteStore::close_db() {
  if (db_ != nullptr) {
    sqlite3_close_v2(db_);
    db_ = nullptr;
  }
}

bool SqliteStore::open_and_check(std::string& error) {
  const int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX;
  if (int rc = sqlite3_open_v2(path_.c_str(), &db_, flags, nullptr); rc != SQLITE_OK) {
    error = db_ != nullptr ? sqlite3_errmsg(db_) : sqlite3_errstr(rc);
    return false;
  }
  sqlite3_busy_timeout(db_, static_cast<int>(busy_timeout_.count()));
  // The first statement reads the header: "file is not a database" shows here.
  {
    Statement check(db_, "PRAGMA quick_check");
    if (check.stmt == nullptr) {
      error = sqlite3_errmsg(db_);
      return false;
    }
    int rc = sqlite3_step(check.stmt);
    if (rc != SQLITE_ROW) {
      error = sqlite3_errmsg(db_);
      return false;
    }
    if (text_column(check.stmt, 0) != "ok") {
      error = "integrity check failed: " + text_column(check.stmt, 0);
      return false;
    }
  }
  // A database of some other program (or of another schema) is not ours to write into.
  bool has_meta = false;
  int other_tables = 0;
  {
    Statement tables(db_, "SELECT name FROM sqlite_master WHERE type = 'table'");
    if (tables.stmt == nullptr) {
      error = sqlite3_errmsg(db_);
      return false;
    }
    while (sqlite3_step(tables.stmt) == SQLITE_ROW) {
      const auto name = text_column(tables.stmt, 0);
      if (name == "mta_stsd_meta") {
        has_meta = true;
      } else if (name != "policies") {
        ++other_tables;
      }
    }
  }
  if (has_meta) {
    Statement tag(db_, "SELECT value FROM mta_stsd_meta WHERE key = 'schema'");
    if (tag.stmt == nullptr || sqlite3_step(tag.stmt) != SQLITE_ROW ||
        text_column(tag.stmt, 0) != kSchemaTag) {
      error = "unknown schema version (not written by this mta-stsd)";
      return false;
    }
  } else if (other_tables > 0) {
    error = "not an mta-stsd cache database (it has tables of another program)";
    return false;
  }
  // WAL: readers never block the writer, and a killed process cannot corrupt
  // the file; NORMAL sync is durable against process crashes.
  if (!exec(db_, "PRAGMA journal_mode = WAL", error) ||
      !exec(db_, "PRAGMA synchronous = NORMAL", error)) {
    // A read-only file still loads; writes will fail and be reported then.
    spdlog::warn("cache database {}: {}", path_, error);
    error.clear();
  }
  if (!has_meta) {
    if (!exec(db_,
              "CREATE TABLE IF NOT EXISTS mta_stsd_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);"
              "INSERT OR REPLACE INTO mta_stsd_meta VALUES ('schema', 'mta-stsd-policies/1');"
              "CREATE TABLE IF NOT EXISTS policies ("
              "  domain TEXT PRIMARY KEY, txt_id TEXT NOT NULL, body TEXT NOT NULL,"
              "  fetched_at INTEGER NOT NULL, expires_at INTEGER NOT NULL,"
              "  checked_at INTEGER NOT NULL) WITHOUT ROWID;",
              error)) {
      error = "cannot create the schema: " + error;
      return false;
    }
  }
  return true;
}

namespace {

// Reads the current row of a policies SELECT; false when it is unusable.
bool read_row(sqlite3_stmt* stmt, CachedPolicy& policy, std::string& why) {
  policy.domain = text_column(stmt, 0);
  policy.txt_id = text_column(stmt, 1);
  policy.body = text_column(stmt, 2);
  policy.fetched_at = sqlite3_column_int64(stmt, 3);
  policy.expires_at = sqlite3_column_int64(stmt, 4);
  policy.checked_at = sqlite3_column_int64(stmt, 5);
  // The body is re-validated: a row edited by hand or damaged on disk must not
  // become an answer.
  auto parsed = sts::parse_policy(policy.body);
  if (!parsed.policy) {
    why = parsed.error;
    return false;
  }
  if (policy.domain.empty() || policy.expires_at < policy.fetched_at) {
    why = "inconsistent row";
    return false;
  }
  policy.policy = std::move(*parsed.policy);
  return true;
}

}  // namespace

void SqliteStore::load_all(const std::function<void(CachedPolicy)>& sink) {
  if (db_ == nullptr) return;
  Statement select(db_,
                   "SELECT domain, txt_id, body, fetched_at, expires_at, checked_at FROM policies");
  if (select.stmt == nullptr) {
    spdlog::error("cache database {}: cannot read policies: {}", path_, sqlite3_errmsg(db_));
    return;
  }
  std::size_t bad = 0;
  int rc;
  while ((rc = sqlite3_step(select.stmt)) == SQLITE_ROW) {
    CachedPolicy policy;
    std::string why;
    if (!read_row(select.stmt, policy, why)) {
      if (++bad <= 10) {
        spdlog::warn("cache database {}: skipping unusable row for '{}': {}", path_,
                     policy.domain.substr(0, 255), why);
      }
      continue;
    }
    sink(std::move(policy));
  }
  if (rc != SQLITE_DONE) {
    spdlog::error("cache database {}: reading stopped early: {}", path_, sqlite3_errmsg(db_));
  }
  if (bad > 10) spdlog::warn("cache database {}: {} unusable rows skipped in all", path_, bad);
}

void SqliteStore::fetch(const std::string& domain,
                        std::function<void(std::optional<CachedPolicy>)> done) {
  std::optional<CachedPolicy> found;
  if (db_ != nullptr) {
    Statement select(db_,
                     "SELECT domain, txt_id, body, fetched_at, expires_at, checked_at FROM "
                     "policies WHERE domain = ?1");
    if (select.stmt != nullptr) {
      sqlite3_bind_text(select.stmt, 1, domain.data(), static_cast<int>(domain.size()),
                        SQLITE_STATIC);
      if (sqlite3_step(select.stmt) == SQLITE_ROW) {
        CachedPolicy policy;
        std::string why;
        if (read_row(select.stmt, policy, why)) found = std::move(policy);
      }
    }
  }
  done(std::move(found));
}

void SqliteStore::save(const CachedPolicy& policy) {
  if (db_ == nullptr) return;
  if (read_only_) {
    if (!read_only_logged_.exchange(true)) {
      spdlog::warn("cache database {} is read-only: {} and later policies are kept in memory only",
                   path_, policy.domain);
    }
    return;
  }
  {
    std::lock_guard lock(mutex_);
    if (queue_.size() >= kMaxQueued) queue_.pop_front();
    queue_.push_back(Op{false, policy});
  }
  wake_.notify_one();
}

void SqliteStore::remove(const std::string& domain) {
  if (db_ == nullptr || read_only_) return;
  Op op;
  op.remove = true;
  op.policy.domain = domain;
  {
    std::lock_guard lock(mutex_);
    queue_.push_back(std::move(op));
  }
  wake_.notify_one();
}

void SqliteStore::flush() {
  if (db_ == nullptr || read_only_) return;
  std::unique_lock lock(mutex_);
  wake_.notify_one();
  idle_.wait_for(lock, std::chrono::seconds(10), [this] { return queue_.empty() && !writing_; });
}

void SqliteStore::writer_loop() {
  std::unique_lock lock(mutex_);
  for (;;) {
    wake_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
    if (queue_.empty() && stopping_) break;
    // Let a burst accumulate into one transaction, but never longer than the
    // commit interval: what was answered a second ago is on disk.
    if (!stopping_) wake_.wait_for(lock, kCommitInterval, [this] { return stopping_; });
    std::deque<Op> batch;
    batch.swap(queue_);
    writing_ = true;
    lock.unlock();
    const bool ok = write_batch(batch);
    lock.lock();
    writing_ = false;
    if (!ok) {
      // Keep the writes for a retry (bounded), unless we are shutting down.
      while (!batch.empty() && queue_.size() < kMaxQueued) {
        queue_.push_front(std::move(batch.back()));
        batch.pop_back();
      }
      if (stopping_) break;
      wake_.wait_for(lock, std::chrono::seconds(2), [this] { return stopping_; });
      if (stopping_) break;
    }
    if (queue_.empty()) idle_.notify_all();
  }
  idle_.notify_all();
}

bool SqliteStore::write_batch(std::deque<Op>& batch) {
  std::string error;
  bool ok = exec(db_, "BEGIN IMMEDIATE", error);
  if (ok) {
    Statement upsert(db_,
                     "INSERT OR REPLACE INTO policies (domain, txt_id, body, fetched_at, "
                     "expires_at, checked_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)");
    Statement erase(db_, "DELETE FROM policies WHERE domain = ?1");
    ok = upsert.stmt != nullptr && erase.stmt != nullptr;
    if (!ok) error = sqlite3_errmsg(db_);
    for (auto it = batch.begin(); ok && it != batch.end(); ++it) {
      const auto& p = it->policy;
      sqlite3_stmt* stmt = it->remove ? erase.stmt : upsert.stmt;
      sqlite3_reset(stmt);
      sqlite3_bind_text(stmt, 1, p.domain.data(), static_cast<int>(p.domain.size()), SQLITE_STATIC);
      if (!it->remove) {
        sqlite3_bind_text(stmt, 2, p.txt_id.data(), static_cast<int>(p.txt_id.size()), SQLITE_STATIC);
        sqlite3_bind_text(stmt, 3, p.body.data(), static_cast<int>(p.body.size()), SQLITE_STATIC);
        sqlite3_bind_int64(stmt, 4, p.fetched_at);
        sqlite3_bind_int64(stmt, 5, p.expires_at);
        sqlite3_bind_int64(stmt, 6, p.checked_at);
      }
      if (sqlite3_step(stmt) != SQLITE_DONE) {
        ok = false;
        error = sqlite3_errmsg(db_);
      }
    }
    if (ok) ok = exec(db_, "COMMIT", error);
    if (!ok) {
      std::string ignored;
      exec(db_, "ROLLBACK", ignored);
    }
  }
  if (!ok && !write_failing_) {
    write_failing_ = true;
    spdlog::error("cache database {}: cannot write ({}); serving from memory, will retry",
                  path_, error);
  } else if (ok && write_failing_) {
    write_failing_ = false;
    spdlog::info("cache database {}: writing again", path_);
  }
  return ok;
}

}  // namespace mtasts::cache
