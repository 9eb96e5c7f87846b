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

#include "cache/record_check.hpp"
#include "cache/sqlite_statement.hpp"
#include "cache/sqlite_takeover.hpp"
#include "dane/level.hpp"
#include "util/log_text.hpp"

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

using sqlite::exec;
using sqlite::read_text;
using sqlite::Statement;
using sqlite::text_column;

}  // namespace

namespace {

const char* describe_result(int rc) {
  switch (rc & 0xff) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
      return "locked by another process";
    case SQLITE_READONLY:
      return "read-only";
    case SQLITE_FULL:
      return "disk full";
    case SQLITE_IOERR:
      return "I/O error";
    default:
      return "cannot be opened";
  }
}

}  // namespace

SqliteStore::SqliteStore(std::string path, std::chrono::milliseconds busy_timeout)
    : path_(std::move(path)), busy_timeout_(busy_timeout) {
  std::error_code ec;
  const auto parent = std::filesystem::path(path_).parent_path();
  if (!parent.empty()) std::filesystem::create_directories(parent, ec);

  std::string error;
  sqlite3* db = nullptr;
  auto result = open_with_retries(db, error);
  if (result != OpenResult::ok) {
    sqlite3_close_v2(db);
    db = nullptr;
    struct stat st {};
    if (::stat(path_.c_str(), &st) != 0) {
      // Nothing there to keep, and it cannot be created.
      spdlog::error("cache database {}: {}: policies will be kept in memory only", path_, error);
      return;
    }
    if (result == OpenResult::damaged || result == OpenResult::foreign) {
      // Only what is not a database, is corrupt, or is another program's: a
      // retry would find it the same. Never deleted: an admin may want it back.
      const std::string aside = path_ + ".unreadable-" + std::to_string(std::time(nullptr));
      if (std::rename(path_.c_str(), aside.c_str()) != 0) {
        spdlog::error(
            "cache database {}: {}; cannot move it aside ({}): policies will be kept "
            "in memory only",
            path_, error, std::strerror(errno));
        return;
      }
      for (const char* suffix : {"-wal", "-shm"}) {
        std::rename((path_ + suffix).c_str(), (aside + suffix).c_str());
      }
      moved_aside_ = aside;
      spdlog::error("cache database {}: {}; moved it aside to {} and starting with an empty cache",
                    path_, error, aside);
      error.clear();
      result = open_and_check(db, error);
      if (result != OpenResult::ok) {
        sqlite3_close_v2(db);
        db = nullptr;
        spdlog::error("cache database {}: {}: policies will be kept in memory only", path_, error);
        return;
      }
    } else {
      // Locked, read-only, an I/O error, a full disk: the file and what it
      // holds are fine, the moment is not (issue 16: a transient error never
      // throws the store away). Answer from what can be read, retry writing.
      std::string ro_error;
      sqlite3* ro = nullptr;
      if (open_read_only(ro, ro_error)) {
        fallback_ = ro;
        spdlog::error(
            "cache database {}: {}; keeping the file: its policies are loaded read-only, new "
            "policies are kept in memory and written once it can be opened for writing "
            "(retrying in the background)",
            path_, error);
      } else {
        sqlite3_close_v2(ro);
        spdlog::error(
            "cache database {}: {}; keeping the file, but it cannot be read either ({}): new "
            "policies are kept in memory and written once it can be opened (retrying in the "
            "background)",
            path_, error, ro_error);
      }
      writer_ = std::thread([this] { writer_loop(); });
      return;
    }
  }
  purge_stale_dane(db);
  // PRAGMA quick_check read every page into this connection's cache; reads
  // after start-up are one row at a time, so give that memory back.
  sqlite3_db_release_memory(db);
  db_.store(db, std::memory_order_release);
  writer_ = std::thread([this] { writer_loop(); });
}

SqliteStore::~SqliteStore() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  if (writer_.joinable()) writer_.join();
  if (db_.load() == nullptr && !queue_.empty()) {
    // Answered from memory meanwhile; after a restart discovery learns them again.
    spdlog::warn("cache database {}: {} changes not written: the file never became writable", path_,
                 queue_.size());
  }
  sqlite3_close_v2(db_.exchange(nullptr));
  sqlite3_close_v2(fallback_);
}

sqlite3* SqliteStore::reader() const {
  sqlite3* db = db_.load(std::memory_order_acquire);
  return db != nullptr ? db : fallback_;
}

// immutable=1: SQLite reads the file as it is, without the -shm/-wal files a
// read-only filesystem cannot hold and without the locks another process may
// hold (writes not yet checkpointed are not seen).
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

bool SqliteStore::open_read_only(sqlite3*& db, std::string& error) {
  const std::string uri = immutable_uri();
  if (int rc =
          sqlite3_open_v2(uri.c_str(), &db,
                          SQLITE_OPEN_READONLY | SQLITE_OPEN_URI | SQLITE_OPEN_FULLMUTEX, nullptr);
      rc != SQLITE_OK) {
    error = db != nullptr ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
    return false;
  }
  Statement tag(db, "SELECT value FROM mta_stsd_meta WHERE key = 'schema'");
  if (tag.stmt == nullptr || sqlite3_step(tag.stmt) != SQLITE_ROW ||
      text_column(tag.stmt, 0) != kSchemaTag) {
    // postfix-mta-sts-resolver's file we could not yet add our tables to: its
    // policies are read in place meanwhile, so none is lost to the switch.
    if (find_resolver_table(db) == ResolverTable::present) {
      fallback_resolver_ = true;
      has_dane_table_ = false;
      return true;
    }
    error = tag.stmt == nullptr ? sqlite3_errmsg(db) : "not an mta-stsd cache database";
    return false;
  }
  // Written before DANE support: its policies load, it has no DANE results.
  Statement dane(db, "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'dane'");
  has_dane_table_ = dane.stmt != nullptr && sqlite3_step(dane.stmt) == SQLITE_ROW;
  return true;
}

// The start-up scans run on a read-only connection of their own, used by the
// calling thread alone: without FULLMUTEX's lock and unlock around every
// sqlite3_step and sqlite3_column_* call, which cost more than the reads
// themselves (six columns a row). Null when it cannot be opened: the caller
// then reads through the shared connection.
sqlite3* SqliteStore::open_scan_connection() const {
  sqlite3* scan = nullptr;
  const bool immutable = db_.load(std::memory_order_acquire) == nullptr;
  const std::string name = immutable ? immutable_uri() : path_;
  const int flags = SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX | (immutable ? SQLITE_OPEN_URI : 0);
  if (sqlite3_open_v2(name.c_str(), &scan, flags, nullptr) != SQLITE_OK) {
    sqlite3_close_v2(scan);
    return nullptr;
  }
  sqlite3_busy_timeout(scan, static_cast<int>(busy_timeout_.count()));
  // A scan reads each page once: a few pages of cache suffice, and a full-size
  // cache would only leave its memory behind in the heap after the close.
  sqlite3_exec(scan, "PRAGMA cache_size = 16", nullptr, nullptr, nullptr);
  return scan;
}

// Start-up: a lock another process holds is waited for (kStartupLockWait),
// other transient errors get a short second chance (kStartupErrorWait), with
// back-off between attempts. What is damaged or foreign is not retried.
SqliteStore::OpenResult SqliteStore::open_with_retries(sqlite3*& db, std::string& error) {
  const auto started = std::chrono::steady_clock::now();
  auto delay = kOpenRetryFirstDelay;
  bool logged = false;
  for (;;) {
    const auto result = open_and_check(db, error);
    if (result == OpenResult::ok && logged) {
      spdlog::info("cache database {}: the lock is released; opened", path_);
    }
    if (result == OpenResult::ok || result == OpenResult::damaged ||
        result == OpenResult::foreign) {
      return result;
    }
    const auto budget =
        result == OpenResult::busy
            ? std::chrono::duration_cast<std::chrono::milliseconds>(kStartupLockWait)
            : std::chrono::duration_cast<std::chrono::milliseconds>(kStartupErrorWait);
    if (std::chrono::steady_clock::now() - started + delay > budget) return result;
    if (!logged && result == OpenResult::busy) {
      logged = true;
      spdlog::warn("cache database {}: {}; waiting up to {} s for it", path_, error,
                   kStartupLockWait.count());
    }
    sqlite3_close_v2(db);
    db = nullptr;
    std::this_thread::sleep_for(delay);
    delay = std::min(delay * 2, kOpenRetryMaxDelay);
  }
}

// db is set whenever sqlite3_open_v2 gave a handle, even on failure: the
// caller closes it.
SqliteStore::OpenResult SqliteStore::open_and_check(sqlite3*& db, std::string& error) {
  // What an SQLite result code means for the file: only "not a database" and
  // "corrupt" say the file itself is bad; the rest is the moment's.
  auto failed = [&](int rc) {
    error = fmt::format("{} ({})", db != nullptr ? sqlite3_errmsg(db) : sqlite3_errstr(rc),
                        describe_result(rc));
    switch (rc & 0xff) {
      case SQLITE_NOTADB:
      case SQLITE_CORRUPT:
        error = db != nullptr ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
        return OpenResult::damaged;
      case SQLITE_BUSY:
      case SQLITE_LOCKED:
        return OpenResult::busy;
      default:
        return OpenResult::transient;
    }
  };
  const int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX;
  if (int rc = sqlite3_open_v2(path_.c_str(), &db, flags, nullptr); rc != SQLITE_OK) {
    return failed(rc);
  }
  sqlite3_extended_result_codes(db, 1);
  sqlite3_busy_timeout(db, static_cast<int>(busy_timeout_.count()));
  // SQLite falls back to read-only when the file cannot be opened for
  // writing: that is a moment's state too (a read-only mount, a bind mount).
  if (sqlite3_db_readonly(db, "main") == 1) {
    error = "the file can only be opened read-only";
    return OpenResult::transient;
  }
  // The first statement reads the header: "file is not a database" shows here.
  {
    Statement check(db, "PRAGMA quick_check");
    if (check.stmt == nullptr) return failed(sqlite3_extended_errcode(db));
    if (int rc = sqlite3_step(check.stmt); rc != SQLITE_ROW) return failed(rc);
    if (text_column(check.stmt, 0) != "ok") {
      error = "integrity check failed: " + text_column(check.stmt, 0);
      return OpenResult::damaged;
    }
  }
  // A database of some other program (or of another schema) is not ours to write
  // into, except postfix-mta-sts-resolver's: its cache is taken over, our tables
  // created beside its own (sqlite_takeover.hpp says why that is safe).
  bool has_meta = false;
  int other_tables = 0;
  {
    Statement tables(db, "SELECT name FROM sqlite_master WHERE type = 'table'");
    if (tables.stmt == nullptr) return failed(sqlite3_extended_errcode(db));
    int rc;
    while ((rc = sqlite3_step(tables.stmt)) == SQLITE_ROW) {
      const auto name = text_column(tables.stmt, 0);
      if (name == "mta_stsd_meta") {
        has_meta = true;
      } else if (name != "policies" && name != "dane" && name != "taken_over" &&
                 !is_resolver_table_name(name)) {
        ++other_tables;
      }
    }
    if (rc != SQLITE_DONE) return failed(rc);
  }
  const auto resolver_table = find_resolver_table(db);
  if (resolver_table == ResolverTable::other_layout && !has_meta) {
    error =
        "not an mta-stsd cache database (its table sts_policy_cache lacks postfix-mta-sts-"
        "resolver's columns domain, ts, pol_id, pol_body)";
    return OpenResult::foreign;
  }
  if (has_meta) {
    Statement tag(db, "SELECT value FROM mta_stsd_meta WHERE key = 'schema'");
    if (tag.stmt == nullptr) return failed(sqlite3_extended_errcode(db));
    const int rc = sqlite3_step(tag.stmt);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) return failed(rc);
    if (rc != SQLITE_ROW || text_column(tag.stmt, 0) != kSchemaTag) {
      error = "unknown schema version (not written by this mta-stsd)";
      return OpenResult::foreign;
    }
  } else if (other_tables > 0 && resolver_table != ResolverTable::present) {
    error = "not an mta-stsd cache database (it has tables of another program)";
    return OpenResult::foreign;
  }
  // WAL: readers never block the writer, and a killed process cannot corrupt
  // the file; NORMAL sync is durable against process crashes.
  if (!exec(db, "PRAGMA journal_mode = WAL", error) ||
      !exec(db, "PRAGMA synchronous = NORMAL", error)) {
    // Still usable (a rollback journal); writes that fail are reported then.
    spdlog::warn("cache database {}: {}", path_, error);
    error.clear();
  }
  if (!has_meta) {
    if (!exec(
            db,
            "CREATE TABLE IF NOT EXISTS mta_stsd_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);"
            "INSERT OR REPLACE INTO mta_stsd_meta VALUES ('schema', 'mta-stsd-policies/1');"
            "CREATE TABLE IF NOT EXISTS policies ("
            "  domain TEXT PRIMARY KEY, txt_id TEXT NOT NULL, body TEXT NOT NULL,"
            "  fetched_at INTEGER NOT NULL, expires_at INTEGER NOT NULL,"
            "  checked_at INTEGER NOT NULL) WITHOUT ROWID;",
            error)) {
      const int rc = sqlite3_extended_errcode(db);
      const auto result = failed(rc);
      error = "cannot create the schema: " + error;
      return result;
    }
  }
  ensure_dane_table(db);
  // Each open (start-up, or the first writable one after a read-only start):
  // what the Python daemon learned since the last one is taken over too.
  if (resolver_table == ResolverTable::present)
    take_over_resolver_table(db, path_, wall_clock_now());
  return OpenResult::ok;
}

// The writer thread, after a start that could not open the file for writing.
bool SqliteStore::reopen_for_writing() {
  sqlite3* db = nullptr;
  std::string error;
  if (open_and_check(db, error) != OpenResult::ok) {
    sqlite3_close_v2(db);
    spdlog::debug("cache database {}: still cannot open it for writing: {}", path_, error);
    return false;
  }
  purge_stale_dane(db);
  sqlite3_db_release_memory(db);
  db_.store(db, std::memory_order_release);
  std::size_t queued = 0;
  {
    std::lock_guard lock(mutex_);
    queued = queue_.size();
  }
  spdlog::info("cache database {}: open for writing again; writing {} queued changes", path_,
               queued);
  return true;
}

// A database written before DANE support gets the table now. Failing that
// (a read-only file) the policies still load; DANE results stay in memory.
bool SqliteStore::ensure_dane_table(sqlite3* db) {
  std::string error;
  has_dane_table_ = exec(db, kCreateDaneTable, error);
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
void SqliteStore::purge_stale_dane(sqlite3* db) {
  if (!has_dane_table_) return;
  Statement purge(db, "DELETE FROM dane WHERE keep_until <= ?1");
  if (purge.stmt != nullptr) {
    sqlite3_bind_int64(purge.stmt, 1, wall_clock_now());
    if (sqlite3_step(purge.stmt) == SQLITE_DONE) {
      if (const int gone = sqlite3_changes(db); gone > 0) {
        spdlog::info("cache database {}: dropped {} DANE results past their keep time", path_,
                     gone);
      }
      return;
    }
  }
  // Harmless: the stale rows are ignored when loaded, and retried next start.
  spdlog::warn("cache database {}: cannot drop stale DANE results: {}", path_, sqlite3_errmsg(db));
}

namespace {

constexpr const char* kSelectPolicies =
    "SELECT domain, txt_id, body, fetched_at, expires_at, checked_at FROM policies";

// Reads the current row of a policies SELECT; the reason it is unusable, if it
// is. Each column is read once, straight into the field that keeps it; the
// row then passes the one check every stored record passes (record_check.hpp):
// a row edited by hand, damaged on disk or written by someone else must not
// become an answer, nor outlive its max_age.
std::optional<std::string> read_row(sqlite3_stmt* stmt, CachedPolicy& policy, std::int64_t now) {
  read_text(stmt, 0, policy.domain);
  read_text(stmt, 1, policy.txt_id);
  read_text(stmt, 2, policy.body);
  policy.fetched_at = sqlite3_column_int64(stmt, 3);
  policy.expires_at = sqlite3_column_int64(stmt, 4);
  policy.checked_at = sqlite3_column_int64(stmt, 5);
  return adopt_policy_record(policy, now);
}

constexpr const char* kSelectDane =
    "SELECT destination, level, summary, fetched_at, expires_at, keep_until FROM dane";

// Reads the current row of a dane SELECT; the reason it is unusable (edited by
// hand, damaged, or written by a later version with levels this one lacks).
std::optional<std::string> read_dane_row(sqlite3_stmt* stmt, CachedDane& dane, std::int64_t now) {
  read_text(stmt, 0, dane.destination);
  const auto level = dane::parse_level(text_column(stmt, 1));
  read_text(stmt, 2, dane.summary);
  dane.fetched_at = sqlite3_column_int64(stmt, 3);
  dane.expires_at = sqlite3_column_int64(stmt, 4);
  dane.keep_until = sqlite3_column_int64(stmt, 5);
  if (!level) return "unknown DANE level";
  dane.level = *level;
  return check_dane_record(dane, now);
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

bool SqliteStore::load_all(const std::function<void(CachedPolicy)>& sink) {
  sqlite3* const db = reader();
  if (db == nullptr) {
    if (!file_exists()) return true;  // no file: nothing
    errors_.read();                   // one we cannot open: unknown
    return false;
  }
  ScanConnection scan(db, open_scan_connection());
  if (reading_resolver_in_place()) {
    std::size_t logged = 0;
    const auto counts = read_resolver_table(
        scan.db, nullptr, wall_clock_now(), sink,
        [&](const std::string& domain, const std::string& why) {
          if (logged++ < kMaxLoggedBadRows && rejected_.first(domain, why)) {
            spdlog::warn(
                "cache database {}: postfix-mta-sts-resolver's entry for '{}' not used: {}", path_,
                util::log_text(domain), why);
          }
        });
    spdlog::log(in_place_read_logged_.exchange(true) ? spdlog::level::debug : spdlog::level::info,
                "cache database {}: read {} policies of postfix-mta-sts-resolver in place ({} "
                "expired, {} unusable); the file cannot be written yet, so they are taken over "
                "once it can",
                path_, counts.taken, counts.expired, counts.unusable);
    return true;
  }
  Statement select(scan.db, kSelectPolicies);
  if (select.stmt == nullptr) {
    spdlog::error("cache database {}: cannot read policies: {}", path_, sqlite3_errmsg(scan.db));
    errors_.read();
    return false;
  }
  const auto now = wall_clock_now();
  std::size_t bad = 0, logged = 0;
  int rc;
  while ((rc = sqlite3_step(select.stmt)) == SQLITE_ROW) {
    CachedPolicy policy;
    if (auto why = read_row(select.stmt, policy, now)) {
      ++bad;
      if (logged < kMaxLoggedBadRows && rejected_.first(policy.domain, *why)) {
        ++logged;
        spdlog::warn("cache database {}: skipping unusable row for '{}': {}", path_,
                     util::log_text(policy.domain), *why);
      }
      continue;
    }
    sink(std::move(policy));
  }
  const bool complete = rc == SQLITE_DONE;
  if (!complete) {
    errors_.read();
    spdlog::error("cache database {}: reading stopped early: {}", path_, sqlite3_errmsg(scan.db));
  }
  if (bad > kMaxLoggedBadRows) {
    spdlog::warn("cache database {}: {} unusable rows skipped in all", path_, bad);
  }
  return complete;
}

void SqliteStore::load_all_dane(const std::function<void(CachedDane)>& sink) {
  sqlite3* const db = reader();
  if (db == nullptr || !has_dane_table_) return;
  ScanConnection scan(db, open_scan_connection());
  Statement select(scan.db, kSelectDane);
  if (select.stmt == nullptr) {
    spdlog::error("cache database {}: cannot read DANE results: {}", path_,
                  sqlite3_errmsg(scan.db));
    errors_.read();
    return;
  }
  const auto now = wall_clock_now();
  std::size_t bad = 0, logged = 0;
  int rc;
  while ((rc = sqlite3_step(select.stmt)) == SQLITE_ROW) {
    CachedDane dane;
    if (auto why = read_dane_row(select.stmt, dane, now)) {
      ++bad;
      if (logged < kMaxLoggedBadRows && rejected_.first("dane:" + dane.destination, *why)) {
        ++logged;
        spdlog::warn("cache database {}: skipping unusable DANE row for '{}': {}", path_,
                     util::log_text(dane.destination), *why);
      }
      continue;
    }
    sink(std::move(dane));
  }
  if (rc != SQLITE_DONE) {
    errors_.read();
    spdlog::error("cache database {}: reading DANE results stopped early: {}", path_,
                  sqlite3_errmsg(scan.db));
  }
  if (bad > kMaxLoggedBadRows) {
    spdlog::warn("cache database {}: {} unusable DANE rows skipped in all", path_, bad);
  }
}

void SqliteStore::fetch(const std::string& domain, std::function<void(PolicyRead)> done) {
  std::optional<CachedPolicy> found;
  {
    // Read your writes (issue 16): a policy learned a moment ago and already
    // dropped from memory must not look absent while the writer batches it.
    std::unique_lock lock(mutex_);
    if (auto it = unwritten_.find(domain); it != unwritten_.end()) {
      found = it->second.policy;
      lock.unlock();
      // The same check as a row read back from the file.
      if (found) {
        if (auto why = adopt_policy_record(*found, wall_clock_now())) {
          if (rejected_.first(domain, *why)) {
            spdlog::warn("cache database {}: ignoring unusable policy for '{}': {}", path_,
                         util::log_text(domain), *why);
          }
          found.reset();
        }
      }
      done(PolicyRead::answered(std::move(found)));
      return;
    }
  }
  if (reading_resolver_in_place()) {
    const auto counts = read_resolver_table(
        fallback_, &domain, wall_clock_now(), [&](CachedPolicy p) { found = std::move(p); },
        [&](const std::string& name, const std::string& why) {
          if (rejected_.first(name, why)) {
            spdlog::warn(
                "cache database {}: postfix-mta-sts-resolver's entry for '{}' not used: {}", path_,
                util::log_text(name), why);
          }
        });
    if (counts.failed && !found) {
      done(read_failed(domain, sqlite3_errmsg(fallback_)));
      return;
    }
    done(PolicyRead::answered(std::move(found)));
    return;
  }
  sqlite3* const db = reader();
  if (db == nullptr) {
    // Not opened yet (the writer retries): a file that does not exist holds nothing.
    if (!file_exists()) return done(PolicyRead::absent());
    done(read_failed(domain, "the database is not open"));
    return;
  }
  Statement select(db, (std::string(kSelectPolicies) + " WHERE domain = ?1").c_str());
  if (select.stmt == nullptr) {
    done(read_failed(domain, sqlite3_errmsg(db)));
    return;
  }
  sqlite3_bind_text(select.stmt, 1, domain.data(), static_cast<int>(domain.size()), SQLITE_STATIC);
  const int rc = sqlite3_step(select.stmt);
  if (rc == SQLITE_ROW) {
    CachedPolicy policy;
    if (auto why = read_row(select.stmt, policy, wall_clock_now())) {
      // Read again on every memory miss: logged once.
      if (rejected_.first(domain, *why)) {
        spdlog::warn("cache database {}: ignoring unusable row for '{}': {}", path_,
                     util::log_text(domain), *why);
      }
    } else {
      found = std::move(policy);
    }
  } else if (rc != SQLITE_DONE) {
    // Busy, an I/O error, corruption: the row may be there. Saying "absent" here
    // is what would let a stored enforce policy be answered NOTFOUND.
    done(read_failed(domain, sqlite3_errmsg(db)));
    return;
  }
  done(PolicyRead::answered(std::move(found)));
}

// A point read by primary key, inline as fetch is.
void SqliteStore::fetch_dane(const std::string& destination, std::function<void(DaneRead)> done) {
  {
    // Read your writes, as fetch does.
    std::unique_lock lock(mutex_);
    if (auto it = unwritten_dane_.find(destination); it != unwritten_dane_.end()) {
      std::optional<CachedDane> found = it->second.dane;
      lock.unlock();
      if (found) {
        if (auto why = check_dane_record(*found, wall_clock_now())) {
          if (rejected_.first("dane:" + destination, *why)) {
            spdlog::warn("cache database {}: ignoring unusable DANE result for '{}': {}", path_,
                         util::log_text(destination), *why);
          }
          found.reset();
        }
      }
      return done(DaneRead::answered(std::move(found)));
    }
  }
  sqlite3* const db = reader();
  if (db == nullptr) {
    if (!file_exists()) return done(DaneRead::absent());
    done(DaneRead::failed(read_failure(destination, "the database is not open")));
    return;
  }
  if (!has_dane_table_) return done(DaneRead::absent());  // a database from before DANE
  Statement select(db, (std::string(kSelectDane) + " WHERE destination = ?1").c_str());
  if (select.stmt == nullptr) {
    done(DaneRead::failed(read_failure(destination, sqlite3_errmsg(db))));
    return;
  }
  sqlite3_bind_text(select.stmt, 1, destination.data(), static_cast<int>(destination.size()),
                    SQLITE_STATIC);
  std::optional<CachedDane> found;
  const int rc = sqlite3_step(select.stmt);
  if (rc == SQLITE_ROW) {
    CachedDane dane;
    if (auto why = read_dane_row(select.stmt, dane, wall_clock_now())) {
      if (rejected_.first("dane:" + destination, *why)) {
        spdlog::warn("cache database {}: ignoring unusable DANE row for '{}': {}", path_,
                     util::log_text(destination), *why);
      }
    } else {
      found = std::move(dane);
    }
  } else if (rc != SQLITE_DONE) {
    done(DaneRead::failed(read_failure(destination, sqlite3_errmsg(db))));
    return;
  }
  done(DaneRead::answered(std::move(found)));
}

// A read that could not tell: logged (once per reason and name, as rows are)
// and handed to the caller, which must not take it for "no record".
std::string SqliteStore::read_failure(const std::string& name, const std::string& why) {
  errors_.read();
  std::string failure = fmt::format("cache database {} cannot be read: {}", path_, why);
  if (rejected_.first("read:" + name, why)) {
    spdlog::warn("{} (looking up '{}')", failure, util::log_text(name));
  }
  return failure;
}

bool SqliteStore::file_exists() const {
  struct stat st {};
  return ::stat(path_.c_str(), &st) == 0 || errno != ENOENT;
}

PolicyRead SqliteStore::read_failed(const std::string& domain, const std::string& why) {
  return PolicyRead::failed(read_failure(domain, why));
}

// False when writes cannot go to the file at all (detached). While the file
// cannot be written yet, writes queue for the writer thread; logged once.
bool SqliteStore::writable(const std::string& name, const char* plural) {
  if (!writer_.joinable()) return false;
  if (db_.load(std::memory_order_acquire) == nullptr && !not_writable_logged_.exchange(true)) {
    spdlog::warn(
        "cache database {} cannot be written for now: {} and later {} are kept in memory only "
        "until it can be",
        path_, util::log_text(name), plural);
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
  {
    std::lock_guard lock(mutex_);
    unwritten_[policy.domain] = Unwritten{++seq_, policy};
  }
  enqueue(policy);
}

void SqliteStore::save_dane(const CachedDane& dane) {
  // Without the table (a database from before DANE support that cannot be
  // written) DANE results stay in memory; one opened for writing later gets it.
  const bool pending = db_.load(std::memory_order_acquire) == nullptr && writer_.joinable();
  if ((!has_dane_table_ && !pending) || !writable(dane.destination, "DANE results")) return;
  {
    std::lock_guard lock(mutex_);
    unwritten_dane_[dane.destination] = UnwrittenDane{++seq_, dane};
  }
  enqueue(dane);
}

void SqliteStore::remove(const std::string& domain) {
  if (!writer_.joinable()) return;
  {
    std::lock_guard lock(mutex_);
    unwritten_[domain] = Unwritten{++seq_, std::nullopt};
    unwritten_dane_[domain] = UnwrittenDane{seq_, std::nullopt};  // the removal takes both
    queue_.push_back(Removal{domain});
  }
  wake_.notify_one();
}

void SqliteStore::due_for_refresh(std::int64_t now, std::int64_t checked_before,
                                  std::int64_t expires_before, std::size_t limit,
                                  std::function<void(std::vector<RefreshDue>)> done) {
  std::vector<RefreshDue> due;
  sqlite3* const db = reader();
  if (db == nullptr || reading_resolver_in_place()) return done(std::move(due));
  // Mirrors DomainCache::refresh_candidates; max_age is expires_at - fetched_at
  // (every row passed that bound on the way in). Rows the checks would refuse
  // are refused again when the refresh reads them.
  Statement select(db,
                   "SELECT domain, txt_id, expires_at <= ?3 OR "
                   "?1 >= fetched_at + (expires_at - fetched_at) / 2 FROM policies "
                   "WHERE expires_at > ?1 AND (checked_at <= ?2 OR expires_at <= ?3) LIMIT ?4");
  if (select.stmt == nullptr) {
    errors_.read();
    spdlog::warn("cache database {}: cannot list the policies due for refresh: {}", path_,
                 sqlite3_errmsg(db));
    return done(std::move(due));
  }
  sqlite3_bind_int64(select.stmt, 1, now);
  sqlite3_bind_int64(select.stmt, 2, checked_before);
  sqlite3_bind_int64(select.stmt, 3, expires_before);
  sqlite3_bind_int64(select.stmt, 4, static_cast<sqlite3_int64>(limit));
  int rc;
  while ((rc = sqlite3_step(select.stmt)) == SQLITE_ROW) {
    RefreshDue row;
    read_text(select.stmt, 0, row.domain);
    read_text(select.stmt, 1, row.txt_id);
    row.expiring_or_aging = sqlite3_column_int(select.stmt, 2) != 0;
    due.push_back(std::move(row));
  }
  if (rc != SQLITE_DONE) {
    errors_.read();
    spdlog::warn("cache database {}: listing the policies due for refresh stopped: {}", path_,
                 sqlite3_errmsg(db));
  }
  done(std::move(due));
}

bool SqliteStore::for_each_current(std::int64_t now,
                                   const std::function<void(CachedPolicy)>& sink) {
  // What the writer has not committed yet is what a fetch would answer (read
  // your writes): it replaces the file's row, or hides it when removed.
  std::unordered_map<std::string, std::optional<CachedPolicy>> pending;
  {
    std::lock_guard lock(mutex_);
    for (const auto& [domain, unwritten] : unwritten_) pending.emplace(domain, unwritten.policy);
  }
  const bool complete = load_all([&](CachedPolicy policy) {
    if (pending.count(policy.domain) == 0 && !policy.expired(now)) sink(std::move(policy));
  });
  for (auto& [domain, policy] : pending) {
    if (!policy || policy->expired(now)) continue;
    if (auto why = adopt_policy_record(*policy, now)) continue;  // logged when fetched
    sink(std::move(*policy));
  }
  return complete;
}

void SqliteStore::list_policies(std::int64_t now, std::size_t limit,
                                std::function<void(std::vector<CachedPolicy>)> done) {
  std::vector<CachedPolicy> out;
  for_each_current(now, [&](CachedPolicy policy) {
    if (out.size() < limit) out.push_back(std::move(policy));
  });
  done(std::move(out));
}

void SqliteStore::list_dane(std::int64_t now, std::size_t limit,
                            std::function<void(std::vector<CachedDane>)> done) {
  // Read your writes, as list_policies does: a result not yet committed
  // replaces the file's row, or hides it when removed.
  std::unordered_map<std::string, std::optional<CachedDane>> pending;
  {
    std::lock_guard lock(mutex_);
    for (const auto& [destination, unwritten] : unwritten_dane_) {
      pending.emplace(destination, unwritten.dane);
    }
  }
  std::vector<CachedDane> out;
  load_all_dane([&](CachedDane dane) {
    if (out.size() < limit && pending.count(dane.destination) == 0 &&
        dane.usable_when_failing(now)) {
      out.push_back(std::move(dane));
    }
  });
  for (auto& [destination, dane] : pending) {
    if (out.size() < limit && dane && dane->usable_when_failing(now)) {
      out.push_back(std::move(*dane));
    }
  }
  done(std::move(out));
}

std::optional<PolicyStore::Census> SqliteStore::census(std::int64_t now,
                                                       std::int64_t expiring_before) {
  Census census;
  const bool complete = for_each_current(now, [&](const CachedPolicy& policy) {
    ++census.by_mode[static_cast<std::size_t>(policy.policy.mode)];
    if (policy.expires_at <= expiring_before) ++census.expiring;
  });
  if (!complete) return std::nullopt;
  return census;
}

void SqliteStore::confirm(const std::string& domain, const std::string& txt_id,
                          std::int64_t checked_at) {
  if (!writer_.joinable()) return;
  {
    std::lock_guard lock(mutex_);
    // A save still waiting is the row: it carries the check time itself.
    if (auto it = unwritten_.find(domain); it != unwritten_.end()) {
      if (it->second.policy && it->second.policy->txt_id == txt_id) {
        it->second.policy->checked_at = std::max(it->second.policy->checked_at, checked_at);
      }
    }
    if (queue_.size() >= kMaxQueued) return;  // a check time is not worth a policy's place
    queue_.push_back(Confirmation{domain, txt_id, checked_at});
  }
  wake_.notify_one();
}

void SqliteStore::flush() {
  // Nothing can be written before the file opens for writing: do not wait.
  if (db_.load(std::memory_order_acquire) == nullptr) return;
  std::unique_lock lock(mutex_);
  wake_.notify_one();
  idle_.wait_for(lock, std::chrono::seconds(10), [this] { return queue_.empty() && !writing_; });
}

void SqliteStore::writer_loop() {
  std::unique_lock lock(mutex_);
  // Started without a writable file: try again, backing off, until it opens
  // (the lock is released, the disk has room, the mount is writable again).
  for (auto delay = kReopenFirstDelay; db_.load(std::memory_order_acquire) == nullptr;
       delay = std::min(delay * 2, kReopenMaxDelay)) {
    if (wake_.wait_for(lock, delay, [this] { return stopping_; })) {
      idle_.notify_all();
      return;
    }
    lock.unlock();
    const bool opened = reopen_for_writing();
    lock.lock();
    if (opened) break;
  }
  for (;;) {
    wake_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
    if (queue_.empty() && stopping_) break;
    // Let a burst accumulate into one transaction, but never longer than the
    // commit interval: what was answered a second ago is on disk.
    if (!stopping_) wake_.wait_for(lock, kCommitInterval, [this] { return stopping_; });
    std::deque<Op> batch;
    batch.swap(queue_);
    const std::uint64_t batch_seq = seq_;  // every save up to here is in this batch (or dropped)
    writing_ = true;
    lock.unlock();
    const bool ok = write_batch(batch);
    lock.lock();
    writing_ = false;
    if (ok) {
      // Committed: reads go to the file again (later saves stay here).
      std::erase_if(unwritten_, [&](const auto& entry) { return entry.second.seq <= batch_seq; });
      std::erase_if(unwritten_dane_,
                    [&](const auto& entry) { return entry.second.seq <= batch_seq; });
    }
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
using sqlite::bind_text;
}  // namespace

bool SqliteStore::write_batch(std::deque<Op>& batch) {
  sqlite3* const db = db_.load(std::memory_order_acquire);
  const bool has_dane = has_dane_table_;
  std::string error;
  bool ok = exec(db, "BEGIN IMMEDIATE", error);
  if (ok) {
    Statement upsert(db,
                     "INSERT OR REPLACE INTO policies (domain, txt_id, body, fetched_at, "
                     "expires_at, checked_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)");
    Statement erase(db, "DELETE FROM policies WHERE domain = ?1");
    Statement touch(db,
                    "UPDATE policies SET checked_at = max(checked_at, ?3) "
                    "WHERE domain = ?1 AND txt_id = ?2");
    // Without the table DANE writes are dropped (queued before it was known).
    Statement upsert_dane(db, has_dane
                                  ? "INSERT OR REPLACE INTO dane (destination, level, summary, "
                                    "fetched_at, expires_at, keep_until) VALUES "
                                    "(?1, ?2, ?3, ?4, ?5, ?6)"
                                  : nullptr);
    Statement erase_dane(db, has_dane ? "DELETE FROM dane WHERE destination = ?1" : nullptr);
    ok = upsert.stmt != nullptr && erase.stmt != nullptr && touch.stmt != nullptr &&
         (!has_dane || (upsert_dane.stmt != nullptr && erase_dane.stmt != nullptr));
    if (!ok) error = sqlite3_errmsg(db);
    // Runs one bound statement to completion.
    auto run = [&](sqlite3_stmt* stmt) {
      if (sqlite3_step(stmt) != SQLITE_DONE) {
        ok = false;
        error = sqlite3_errmsg(db);
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
        if (!has_dane) continue;
        const auto level = dane::to_string(d->level);
        bind_text(upsert_dane.stmt, 1, d->destination);
        sqlite3_bind_text(upsert_dane.stmt, 2, level.data(), static_cast<int>(level.size()),
                          SQLITE_STATIC);
        bind_text(upsert_dane.stmt, 3, d->summary);
        sqlite3_bind_int64(upsert_dane.stmt, 4, d->fetched_at);
        sqlite3_bind_int64(upsert_dane.stmt, 5, d->expires_at);
        sqlite3_bind_int64(upsert_dane.stmt, 6, d->keep_until);
        run(upsert_dane.stmt);
      } else if (const auto* c = std::get_if<Confirmation>(&*it)) {
        bind_text(touch.stmt, 1, c->domain);
        bind_text(touch.stmt, 2, c->txt_id);
        sqlite3_bind_int64(touch.stmt, 3, c->checked_at);
        run(touch.stmt);
      } else {
        // remove(domain): the policy and the DANE result keyed by the same name
        // ("[host]:port" results only go by their exact name).
        const auto& domain = std::get<Removal>(*it).domain;
        bind_text(erase.stmt, 1, domain);
        run(erase.stmt);
        if (ok && has_dane) {
          bind_text(erase_dane.stmt, 1, domain);
          run(erase_dane.stmt);
        }
      }
    }
    if (ok) ok = exec(db, "COMMIT", error);
    if (!ok) {
      std::string ignored;
      exec(db, "ROLLBACK", ignored);
    }
  }
  if (!ok) errors_.write();  // one failed transaction (its writes are retried)
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
