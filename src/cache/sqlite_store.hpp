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
#include <variant>

#include "cache/store.hpp"

struct sqlite3;

namespace mtasts::cache {

class SqliteStore final : public PolicyStore {
 public:
  static constexpr std::chrono::milliseconds kCommitInterval{200};

  // Opens (creating if needed) the database. A file that is not a database, is
  // corrupt, or belongs to another program is renamed aside
  // ("PATH.unreadable-UNIXTIME"), logged, and a fresh database is created. If even
  // that fails, the store runs detached: it logs and keeps nothing (the daemon
  // still serves from memory).
  // busy_timeout: how long a write waits for a database locked by another
  // process (cache.options.timeout).
  explicit SqliteStore(std::string path,
                       std::chrono::milliseconds busy_timeout = std::chrono::milliseconds(5000));
  ~SqliteStore() override;

  std::string describe() const override { return "sqlite:" + path_; }
  void load_all(const std::function<void(CachedPolicy)>& sink) override;
  // A point read by primary key: microseconds, so it runs inline.
  void fetch(const std::string& domain,
             std::function<void(std::optional<CachedPolicy>)> done) override;
  void save(const CachedPolicy& policy) override;
  void remove(const std::string& domain) override;
  void load_all_dane(const std::function<void(CachedDane)>& sink) override;
  void fetch_dane(const std::string& destination,
                  std::function<void(std::optional<CachedDane>)> done) override;
  void save_dane(const CachedDane& dane) override;
  void flush() override;

  bool usable() const { return db_ != nullptr; }
  // The file could only be opened for reading (read-only disk): its policies
  // load, new ones are not written.
  bool read_only() const { return read_only_; }
  const std::string& path() const { return path_; }
  // Set when the file had to be moved aside at open: where it went.
  const std::optional<std::string>& moved_aside() const { return moved_aside_; }

 private:
  struct Removal {
    std::string domain;  // its policy and its DANE result go
  };
  using Op = std::variant<CachedPolicy, CachedDane, Removal>;
  bool open_and_check(std::string& error);
  bool open_read_only(std::string& error);
  std::string immutable_uri() const;
  sqlite3* open_scan_connection() const;
  bool ensure_dane_table();
  void purge_stale_dane();
  void close_db();
  bool writable(const std::string& name, const char* plural);
  void enqueue(Op op);
  void writer_loop();
  bool write_batch(std::deque<Op>& batch);

  std::string path_;
  std::chrono::milliseconds busy_timeout_;
  sqlite3* db_ = nullptr;
  std::optional<std::string> moved_aside_;
  bool read_only_ = false;
  bool has_dane_table_ = false;  // false: a read-only database from before DANE support
  std::atomic<bool> read_only_logged_{false};

  std::mutex mutex_;
  std::condition_variable wake_;
  std::condition_variable idle_;
  std::deque<Op> queue_;
  bool stopping_ = false;
  bool writing_ = false;
  bool write_failing_ = false;  // logged once until writes succeed again
  std::thread writer_;
};

}  // namespace mtasts::cache
