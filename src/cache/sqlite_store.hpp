#pragma once
// SQLite persistence for learned policies (RFC 8461 §10.2: the cache is the
// defence against an attacker who blocks discovery, so it must survive restarts).
//
// Reads happen once, at start-up. Writes go to a queue drained by one writer
// thread in batched transactions, so the event loop never waits on the disk.
// WAL mode with synchronous=NORMAL: a killed process loses no committed batch and
// never corrupts the file; batches commit within kCommitInterval.
//
// DANE results live in their own table ("dane"), created when missing so a
// database written before DANE support keeps its policies; results past their
// keep_until are deleted when the store opens.
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <unordered_map>
#include <variant>

#include "cache/record_check.hpp"
#include "cache/store.hpp"

struct sqlite3;

namespace mtasts::cache {

class SqliteStore final : public PolicyStore {
 public:
  static constexpr std::chrono::milliseconds kCommitInterval{200};
  // Start-up waits this long for a database another process holds locked
  // before reading the file as it is (each attempt itself waits busy_timeout):
  // reading it a few seconds late beats answering without its policies.
  static constexpr std::chrono::seconds kStartupLockWait{10};
  // Other transient errors (read-only, I/O, full disk) get a short second
  // chance at start-up; then the file is read as it is, and retried later.
  static constexpr std::chrono::seconds kStartupErrorWait{1};
  static constexpr std::chrono::milliseconds kOpenRetryFirstDelay{100};
  static constexpr std::chrono::milliseconds kOpenRetryMaxDelay{2000};
  // After a start in which the file could not be opened for writing, the
  // writer thread tries again with this back-off, until it can.
  static constexpr std::chrono::milliseconds kReopenFirstDelay{1000};
  static constexpr std::chrono::milliseconds kReopenMaxDelay{10000};

  // Opens (creating if needed) the database. Only a file that is not a
  // database or is corrupt (SQLITE_NOTADB, SQLITE_CORRUPT, a failed
  // quick_check), or that belongs to another program, is renamed aside
  // ("PATH.unreadable-UNIXTIME"), logged, and replaced by a fresh database.
  // Anything else (locked by another process, read-only, I/O error, full
  // disk) keeps the file: start-up retries for a while (kStartupLockWait,
  // kStartupErrorWait), then reads what it can without writing (an immutable,
  // read-only connection), logs the reason once, and keeps trying to open it
  // for writing in the background; writes queue (bounded) until then. If the
  // path cannot be created at all, the store runs detached: it logs and keeps
  // nothing (the daemon still serves from memory).
  // busy_timeout: how long a statement waits for a database locked by another
  // process (cache.options.timeout).
  explicit SqliteStore(std::string path,
                       std::chrono::milliseconds busy_timeout = std::chrono::milliseconds(5000));
  ~SqliteStore() override;

  std::string describe() const override { return "sqlite:" + path_; }
  // Every row passes check_policy_record (record_check.hpp) on the way in.
  bool load_all(const std::function<void(CachedPolicy)>& sink) override;
  // A point read by primary key: microseconds, so it runs inline. Reads its
  // own writes: a policy saved (or removed) but not yet committed by the writer
  // thread (kCommitInterval, or a full disk's retries) is answered as saved.
  void fetch(const std::string& domain, std::function<void(PolicyRead)> done) override;
  void save(const CachedPolicy& policy) override;
  void remove(const std::string& domain) override;
  void load_all_dane(const std::function<void(CachedDane)>& sink) override;
  void fetch_dane(const std::string& destination, std::function<void(DaneRead)> done) override;
  void save_dane(const CachedDane& dane) override;
  // A scan of the policies table (no index on the times), inline: tens of ms for 100,000
  // rows, hourly at most. Not while postfix-mta-sts-resolver's table is read in
  // place (it keeps no check time): memory's sweep covers what it loaded.
  void due_for_refresh(std::int64_t now, std::int64_t checked_before, std::int64_t expires_before,
                       std::size_t limit,
                       std::function<void(std::vector<RefreshDue>)> done) override;
  // A scan on the reader connection, as at start-up (SQLite: milliseconds per
  // thousand rows).
  void list_policies(std::int64_t now, std::size_t limit,
                     std::function<void(std::vector<CachedPolicy>)> done) override;
  void list_dane(std::int64_t now, std::size_t limit,
                 std::function<void(std::vector<CachedDane>)> done) override;
  std::optional<Census> census(std::int64_t now, std::int64_t expiring_before) override;
  void confirm(const std::string& domain, const std::string& txt_id,
               std::int64_t checked_at) override;
  std::vector<StoreErrorCounts> error_counts() const override {
    return {errors_.snapshot("sqlite")};
  }
  void flush() override;

  // False only when detached: nothing can be read and nothing will be written.
  bool usable() const { return writer_.joinable() || reader() != nullptr; }
  // The file is read but cannot be written (yet): read-only, locked, a full
  // disk. Its policies load; new ones queue until the file can be written.
  bool read_only() const { return db_.load(std::memory_order_acquire) == nullptr && usable(); }
  const std::string& path() const { return path_; }
  // Records (policies and DANE results) saved or removed and not yet
  // committed to the file.
  std::size_t unwritten() const {
    std::lock_guard lock(mutex_);
    return unwritten_.size() + unwritten_dane_.size();
  }
  // Set when the file had to be moved aside at open: where it went.
  const std::optional<std::string>& moved_aside() const { return moved_aside_; }

 private:
  struct Removal {
    std::string domain;  // its policy and its DANE result go
  };
  struct Confirmation {  // a refresh found this id unchanged at checked_at
    std::string domain;
    std::string txt_id;
    std::int64_t checked_at = 0;
  };
  using Op = std::variant<CachedPolicy, CachedDane, Removal, Confirmation>;
  // Every unexpired policy as a fetch would read it now: the file's rows with
  // the writes not yet committed over them. False when the file could not be
  // read to the end.
  bool for_each_current(std::int64_t now, const std::function<void(CachedPolicy)>& sink);
  // Why an open failed, which decides what happens to the file.
  enum class OpenResult { ok, damaged, foreign, busy, transient };
  OpenResult open_and_check(sqlite3*& db, std::string& error);
  OpenResult open_with_retries(sqlite3*& db, std::string& error);
  bool open_read_only(sqlite3*& db, std::string& error);
  bool reopen_for_writing();
  std::string immutable_uri() const;
  sqlite3* open_scan_connection() const;
  sqlite3* reader() const;
  std::string read_failure(const std::string& name, const std::string& why);
  PolicyRead read_failed(const std::string& domain, const std::string& why);
  bool file_exists() const;  // false only when the file is known not to exist
  // Until the file opens for writing (db_ set), only the fallback reads it.
  bool reading_resolver_in_place() const {
    return fallback_resolver_ && db_.load(std::memory_order_acquire) == nullptr;
  }
  bool ensure_dane_table(sqlite3* db);
  void purge_stale_dane(sqlite3* db);
  bool writable(const std::string& name, const char* plural);
  void enqueue(Op op);
  void writer_loop();
  bool write_batch(std::deque<Op>& batch);

  std::string path_;
  std::chrono::milliseconds busy_timeout_;
  // The connection that writes (and reads); null while the file cannot be
  // opened for writing. Set once, by the constructor or the writer thread.
  std::atomic<sqlite3*> db_{nullptr};
  // Reads while db_ is null: the file as it is, read-only (immutable=1).
  sqlite3* fallback_ = nullptr;
  std::optional<std::string> moved_aside_;
  // The read-only fallback is postfix-mta-sts-resolver's file, without our
  // tables: its entries are read in place (sqlite_takeover.hpp).
  bool fallback_resolver_ = false;
  std::atomic<bool> has_dane_table_{false};  // false: a read-only database from before DANE support
  std::atomic<bool> not_writable_logged_{false};
  // The in-place read's count line: at start-up; every list and census reads again.
  std::atomic<bool> in_place_read_logged_{false};
  StoreErrorCounters errors_;
  LogOnce rejected_;  // unusable rows: logged once each

  mutable std::mutex mutex_;
  std::condition_variable wake_;
  std::condition_variable idle_;
  std::deque<Op> queue_;
  // Policies saved (value) or removed (nullopt) and not yet committed, with
  // the sequence number of the save: fetch answers from here first.
  struct Unwritten {
    std::uint64_t seq = 0;
    std::optional<CachedPolicy> policy;
  };
  std::unordered_map<std::string, Unwritten> unwritten_;
  // The same for DANE results: a result purged with its domain must not come
  // back from the file before the removal is committed.
  struct UnwrittenDane {
    std::uint64_t seq = 0;
    std::optional<CachedDane> dane;
  };
  std::unordered_map<std::string, UnwrittenDane> unwritten_dane_;
  std::uint64_t seq_ = 0;
  bool stopping_ = false;
  bool writing_ = false;
  bool write_failing_ = false;  // logged once until writes succeed again
  std::thread writer_;
};

}  // namespace mtasts::cache
