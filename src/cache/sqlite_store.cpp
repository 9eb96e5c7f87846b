#include "cache/sqlite_store.hpp"

#include <sqlite3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <filesystem>

#include "dane/level.hpp"
#include "sts/policy.hpp"
#include "sts/txt_record.hpp"

namespace mtasts::cache {

namespace {

constexpr const char* kSchemaTag = "mta-stsd-policies/1";
constexpr std::size_t kMaxQueued = 200000;  // bound on writes waiting for a failing disk
constexpr std::size_t kMaxLoggedBadRows = 10;

// The DANE results (RFC 7672) table, next to the policies under the same schema
// tag: an older mta-stsd ignores it, this one adds it to an older database.
constexpr const char* kCreateDaneTable =
    "CREATE TABLE IF NOT EXISTS dane ("
    "  destination TEXT PRIMARY KEY, level TEXT NOT NULL, summary TEXT NOT NULL,"
    "  fetched_at INTEGER NOT NULL, expires_at INTEGER NOT NULL,"
    "  keep_until INTEGER NOT NULL) WITHOUT ROWID";

std::int64_t unix_now() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// Statement wrapper: finalized on every path. No SQL, no statement.
struct Statement {
  sqlite3_stmt* stmt = nullptr;
  Statement(sqlite3* db, const char* sql) {
    if (sql == nullptr || sqlite3_prepare_v2(db, sql, -1, &stmt, nullptr) != SQLITE_OK) {
      stmt = nullptr;
    }
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

// Copies a TEXT column into `out` (empty for NULL). sqlite3_column_bytes after
// sqlite3_column_text: the length of the text as returned.
void read_text(sqlite3_stmt* stmt, int column, std::string& out) {
  const auto* text = sqlite3_column_text(stmt, column);
  if (text == nullptr) {
    out.clear();
    return;
  }
  out.assign(reinterpret_cast<const char*>(text),
             static_cast<std::size_t>(sqlite3_column_bytes(stmt, column)));
}

std::string text_column(sqlite3_stmt* stmt, int column) {
  std::string out;
  read_text(stmt, column, out);
  return out;
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
        spdlog::error(
            "cache database {}: {} ({}: {}); its policies are loaded read-only, new "
            "policies are kept in memory only",
            path_, error, dir, why);
        return;
      }
      close_db();
      spdlog::error(
          "cache database {}: {} ({}: {}), and read-only access failed too: {}; "
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
        spdlog::error(
            "cache database {}: {}; moved it aside to {} and starting with an empty cache", path_,
            error, aside);
      } else {
        spdlog::error(
            "cache database {}: {}; cannot move it aside ({}): policies will be kept "
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
  purge_stale_dane();
  // PRAGMA quick_check read every page into this connection's cache; reads
  // after start-up are one row at a time, so give that memory back.
  sqlite3_db_release_memory(db_);
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

// immutable=1: SQLite reads the file as it is, without the -shm/-wal files a
// read-only filesystem cannot hold (writes not yet checkpointed are not seen).
std::string SqliteStore::immutable_uri() const {
  std::string uri = "file:";
  for (const char c : path_) {
    if (c == '%' || c == '?' || c == '#') {
      uri += fmt::format("%{:02X}", static_cast<unsigned char>(c));
    } else {
      uri += c;
    }
  }
  uri += "?immutable=1";
  return uri;
}

bool SqliteStore::open_read_only(std::string& error) {
  const std::string uri = immutable_uri();
  if (int rc =
          sqlite3_open_v2(uri.c_str(), &db_,
                          SQLITE_OPEN_READONLY | SQLITE_OPEN_URI | SQLITE_OPEN_FULLMUTEX, nullptr);
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
  // Written before DANE support: its policies load, it has no DANE results.
  Statement dane(db_, "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'dane'");
  has_dane_table_ = dane.stmt != nullptr && sqlite3_step(dane.stmt) == SQLITE_ROW;
  return true;
}

// The start-up scans run on a read-only connection of their own, used by the
// calling thread alone: without FULLMUTEX's lock and unlock around every
// sqlite3_step and sqlite3_column_* call, which cost more than the reads
// themselves (six columns a row). Null when it cannot be opened: the caller
// then reads through db_.
sqlite3* SqliteStore::open_scan_connection() const {
  sqlite3* scan = nullptr;
  const std::string name = read_only_ ? immutable_uri() : path_;
  const int flags = SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX | (read_only_ ? SQLITE_OPEN_URI : 0);
  if (sqlite3_open_v2(name.c_str(), &scan, flags, nullptr) != SQLITE_OK) {
    sqlite3_close_v2(scan);
    return nullptr;
  }
  // A scan reads each page once: a few pages of cache suffice, and a full-size
  // cache would only leave its memory behind in the heap after the close.
  sqlite3_exec(scan, "PRAGMA cache_size = 16", nullptr, nullptr, nullptr);
  return scan;
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
      } else if (name != "policies" && name != "dane") {
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
    if (!exec(
            db_,
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
  ensure_dane_table();
  return true;
}

// A database written before DANE support gets the table now. Failing that
// (a read-only file) the policies still load; DANE results stay in memory.
bool SqliteStore::ensure_dane_table() {
  std::string error;
  has_dane_table_ = exec(db_, kCreateDaneTable, error);
  if (!has_dane_table_) {
    spdlog::warn(
        "cache database {}: cannot add the DANE table ({}); DANE results will be kept "
        "in memory only",
        path_, error);
  }
  return has_dane_table_;
}

// Results past keep_until are never used again (the resolver ignores them), so
// they are dropped here, once, by the wall clock, rather than on every write.
void SqliteStore::purge_stale_dane() {
  if (!has_dane_table_) return;
  Statement purge(db_, "DELETE FROM dane WHERE keep_until <= ?1");
  if (purge.stmt != nullptr) {
    sqlite3_bind_int64(purge.stmt, 1, unix_now());
    if (sqlite3_step(purge.stmt) == SQLITE_DONE) {
      if (const int gone = sqlite3_changes(db_); gone > 0) {
        spdlog::info("cache database {}: dropped {} DANE results past their keep time", path_,
                     gone);
      }
      return;
    }
  }
  // Harmless: the stale rows are ignored when loaded, and retried next start.
  spdlog::warn("cache database {}: cannot drop stale DANE results: {}", path_, sqlite3_errmsg(db_));
}

namespace {

// Reads the current row of a policies SELECT; false when it is unusable.
// Each column is read once, straight into the field that keeps it.
bool read_row(sqlite3_stmt* stmt, CachedPolicy& policy, std::string& why) {
  read_text(stmt, 0, policy.domain);
  read_text(stmt, 1, policy.txt_id);
  read_text(stmt, 2, policy.body);
  policy.fetched_at = sqlite3_column_int64(stmt, 3);
  policy.expires_at = sqlite3_column_int64(stmt, 4);
  policy.checked_at = sqlite3_column_int64(stmt, 5);
  if (policy.domain.empty() || policy.expires_at < policy.fetched_at) {
    why = "inconsistent row";
    return false;
  }
  if (!sts::is_valid_id(policy.txt_id)) {
    why = "bad policy id";
    return false;
  }
  // The body is re-validated: a row edited by hand or damaged on disk must not
  // become an answer.
  auto parsed = sts::parse_policy(policy.body);
  if (!parsed.policy) {
    why = std::move(parsed.error);
    return false;
  }
  policy.policy = std::move(*parsed.policy);
  return true;
}

constexpr const char* kSelectDane =
    "SELECT destination, level, summary, fetched_at, expires_at, keep_until FROM dane";

// Reads the current row of a dane SELECT; false when it is unusable (edited by
// hand, damaged, or written by a later version with levels this one lacks).
bool read_dane_row(sqlite3_stmt* stmt, CachedDane& dane, std::string& why) {
  read_text(stmt, 0, dane.destination);
  const auto level = dane::parse_level(text_column(stmt, 1));
  read_text(stmt, 2, dane.summary);
  dane.fetched_at = sqlite3_column_int64(stmt, 3);
  dane.expires_at = sqlite3_column_int64(stmt, 4);
  dane.keep_until = sqlite3_column_int64(stmt, 5);
  if (!level) {
    why = "unknown DANE level";
    return false;
  }
  dane.level = *level;
  if (dane.destination.empty() || dane.expires_at < dane.fetched_at ||
      dane.keep_until < dane.expires_at) {
    why = "inconsistent row";
    return false;
  }
  return true;
}

// The connection a start-up scan reads through: its own (closed afterwards),
// or else the shared one with its mutex held throughout, so the per-call locks
// SQLite still takes are uncontended re-entries.
class ScanConnection {
 public:
  ScanConnection(sqlite3* shared, sqlite3* own) : db(own != nullptr ? own : shared), own_(own) {
    if (own_ == nullptr) sqlite3_mutex_enter(sqlite3_db_mutex(db));
  }
  ~ScanConnection() {
    if (own_ != nullptr) {
      sqlite3_close_v2(own_);
    } else {
      sqlite3_mutex_leave(sqlite3_db_mutex(db));
    }
  }
  ScanConnection(const ScanConnection&) = delete;
  ScanConnection& operator=(const ScanConnection&) = delete;

  sqlite3* const db;

 private:
  sqlite3* const own_;
};

}  // namespace

void SqliteStore::load_all(const std::function<void(CachedPolicy)>& sink) {
  if (db_ == nullptr) return;
  ScanConnection scan(db_, open_scan_connection());
  Statement select(scan.db,
                   "SELECT domain, txt_id, body, fetched_at, expires_at, checked_at FROM policies");
  if (select.stmt == nullptr) {
    spdlog::error("cache database {}: cannot read policies: {}", path_, sqlite3_errmsg(scan.db));
    return;
  }
  std::size_t bad = 0;
  int rc;
  while ((rc = sqlite3_step(select.stmt)) == SQLITE_ROW) {
    CachedPolicy policy;
    std::string why;
    if (!read_row(select.stmt, policy, why)) {
      if (++bad <= kMaxLoggedBadRows) {
        spdlog::warn("cache database {}: skipping unusable row for '{}': {}", path_,
                     policy.domain.substr(0, 255), why);
      }
      continue;
    }
    sink(std::move(policy));
  }
  if (rc != SQLITE_DONE) {
    spdlog::error("cache database {}: reading stopped early: {}", path_, sqlite3_errmsg(scan.db));
  }
  if (bad > kMaxLoggedBadRows) {
    spdlog::warn("cache database {}: {} unusable rows skipped in all", path_, bad);
  }
}

void SqliteStore::load_all_dane(const std::function<void(CachedDane)>& sink) {
  if (db_ == nullptr || !has_dane_table_) return;
  ScanConnection scan(db_, open_scan_connection());
  Statement select(scan.db, kSelectDane);
  if (select.stmt == nullptr) {
    spdlog::error("cache database {}: cannot read DANE results: {}", path_,
                  sqlite3_errmsg(scan.db));
    return;
  }
  std::size_t bad = 0;
  int rc;
  while ((rc = sqlite3_step(select.stmt)) == SQLITE_ROW) {
    CachedDane dane;
    std::string why;
    if (!read_dane_row(select.stmt, dane, why)) {
      if (++bad <= kMaxLoggedBadRows) {
        spdlog::warn("cache database {}: skipping unusable DANE row for '{}': {}", path_,
                     dane.destination.substr(0, 261), why);
      }
      continue;
    }
    sink(std::move(dane));
  }
  if (rc != SQLITE_DONE) {
    spdlog::error("cache database {}: reading DANE results stopped early: {}", path_,
                  sqlite3_errmsg(scan.db));
  }
  if (bad > kMaxLoggedBadRows) {
    spdlog::warn("cache database {}: {} unusable DANE rows skipped in all", path_, bad);
  }
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
        if (read_row(select.stmt, policy, why)) {
          found = std::move(policy);
        } else {
          spdlog::warn("cache database {}: row for {} unusable, ignored: {}", path_, domain, why);
        }
      }
    }
  }
  done(std::move(found));
}

// A point read by primary key, inline as fetch is.
void SqliteStore::fetch_dane(const std::string& destination,
                             std::function<void(std::optional<CachedDane>)> done) {
  std::optional<CachedDane> found;
  if (db_ != nullptr && has_dane_table_) {
    Statement select(db_, (std::string(kSelectDane) + " WHERE destination = ?1").c_str());
    if (select.stmt != nullptr) {
      sqlite3_bind_text(select.stmt, 1, destination.data(), static_cast<int>(destination.size()),
                        SQLITE_STATIC);
      if (sqlite3_step(select.stmt) == SQLITE_ROW) {
        CachedDane dane;
        std::string why;
        if (read_dane_row(select.stmt, dane, why)) {
          found = std::move(dane);
        } else {
          spdlog::warn("cache database {}: ignoring unusable DANE row for '{}': {}", path_,
                       destination.substr(0, 261), why);
        }
      }
    }
  }
  done(std::move(found));
}

// False (logged once) when writes cannot go to the file at all.
bool SqliteStore::writable(const std::string& name, const char* plural) {
  if (db_ == nullptr) return false;
  if (read_only_) {
    if (!read_only_logged_.exchange(true)) {
      spdlog::warn("cache database {} is read-only: {} and later {} are kept in memory only", path_,
                   name, plural);
    }
    return false;
  }
  return true;
}

void SqliteStore::enqueue(Op op) {
  {
    std::lock_guard lock(mutex_);
    if (queue_.size() >= kMaxQueued) queue_.pop_front();
    queue_.push_back(std::move(op));
  }
  wake_.notify_one();
}

void SqliteStore::save(const CachedPolicy& policy) {
  if (!writable(policy.domain, "policies")) return;
  enqueue(policy);
}

void SqliteStore::save_dane(const CachedDane& dane) {
  if (!has_dane_table_ || !writable(dane.destination, "DANE results")) return;
  enqueue(dane);
}

void SqliteStore::remove(const std::string& domain) {
  if (db_ == nullptr || read_only_) return;
  {
    std::lock_guard lock(mutex_);
    queue_.push_back(Removal{domain});
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

namespace {

void bind_text(sqlite3_stmt* stmt, int index, const std::string& text) {
  sqlite3_bind_text(stmt, index, text.data(), static_cast<int>(text.size()), SQLITE_STATIC);
}

}  // namespace

bool SqliteStore::write_batch(std::deque<Op>& batch) {
  std::string error;
  bool ok = exec(db_, "BEGIN IMMEDIATE", error);
  if (ok) {
    Statement upsert(db_,
                     "INSERT OR REPLACE INTO policies (domain, txt_id, body, fetched_at, "
                     "expires_at, checked_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)");
    Statement erase(db_, "DELETE FROM policies WHERE domain = ?1");
    // Without the table no DANE write is ever queued (save_dane), nor needed.
    Statement upsert_dane(db_, has_dane_table_
                                   ? "INSERT OR REPLACE INTO dane (destination, level, summary, "
                                     "fetched_at, expires_at, keep_until) VALUES "
                                     "(?1, ?2, ?3, ?4, ?5, ?6)"
                                   : nullptr);
    Statement erase_dane(db_,
                         has_dane_table_ ? "DELETE FROM dane WHERE destination = ?1" : nullptr);
    ok = upsert.stmt != nullptr && erase.stmt != nullptr &&
         (!has_dane_table_ || (upsert_dane.stmt != nullptr && erase_dane.stmt != nullptr));
    if (!ok) error = sqlite3_errmsg(db_);
    // Runs one bound statement to completion.
    auto run = [&](sqlite3_stmt* stmt) {
      if (sqlite3_step(stmt) != SQLITE_DONE) {
        ok = false;
        error = sqlite3_errmsg(db_);
      }
      sqlite3_reset(stmt);
    };
    for (auto it = batch.begin(); ok && it != batch.end(); ++it) {
      if (const auto* p = std::get_if<CachedPolicy>(&*it)) {
        bind_text(upsert.stmt, 1, p->domain);
        bind_text(upsert.stmt, 2, p->txt_id);
        bind_text(upsert.stmt, 3, p->body);
        sqlite3_bind_int64(upsert.stmt, 4, p->fetched_at);
        sqlite3_bind_int64(upsert.stmt, 5, p->expires_at);
        sqlite3_bind_int64(upsert.stmt, 6, p->checked_at);
        run(upsert.stmt);
      } else if (const auto* d = std::get_if<CachedDane>(&*it)) {
        const auto level = dane::to_string(d->level);
        bind_text(upsert_dane.stmt, 1, d->destination);
        sqlite3_bind_text(upsert_dane.stmt, 2, level.data(), static_cast<int>(level.size()),
                          SQLITE_STATIC);
        bind_text(upsert_dane.stmt, 3, d->summary);
        sqlite3_bind_int64(upsert_dane.stmt, 4, d->fetched_at);
        sqlite3_bind_int64(upsert_dane.stmt, 5, d->expires_at);
        sqlite3_bind_int64(upsert_dane.stmt, 6, d->keep_until);
        run(upsert_dane.stmt);
      } else {
        // remove(domain): the policy and the DANE result keyed by the same name
        // ("[host]:port" results only go by their exact name).
        const auto& domain = std::get<Removal>(*it).domain;
        bind_text(erase.stmt, 1, domain);
        run(erase.stmt);
        if (ok && has_dane_table_) {
          bind_text(erase_dane.stmt, 1, domain);
          run(erase_dane.stmt);
        }
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
    spdlog::error("cache database {}: cannot write ({}); serving from memory, will retry", path_,
                  error);
  } else if (ok && write_failing_) {
    write_failing_ = false;
    spdlog::info("cache database {}: writing again", path_);
  }
  return ok;
}

}  // namespace mtasts::cache
