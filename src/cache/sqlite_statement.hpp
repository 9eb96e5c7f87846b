#pragma once
// The few SQLite helpers the store and the takeover share: a statement
// finalized on every path, one-shot SQL, TEXT columns copied out.
#include <sqlite3.h>

#include <string>

namespace mtasts::cache::sqlite {

// Prepared statement; null (and never stepped) when there is no SQL or it does
// not prepare: the caller reports sqlite3_errmsg.
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

inline bool exec(sqlite3* db, const char* sql, std::string& error) {
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
inline void read_text(sqlite3_stmt* stmt, int column, std::string& out) {
  const auto* text = sqlite3_column_text(stmt, column);
  if (text == nullptr) {
    out.clear();
    return;
  }
  out.assign(reinterpret_cast<const char*>(text),
             static_cast<std::size_t>(sqlite3_column_bytes(stmt, column)));
}

inline std::string text_column(sqlite3_stmt* stmt, int column) {
  std::string out;
  read_text(stmt, column, out);
  return out;
}

inline void bind_text(sqlite3_stmt* stmt, int index, const std::string& text) {
  sqlite3_bind_text(stmt, index, text.data(), static_cast<int>(text.size()), SQLITE_STATIC);
}

}  // namespace mtasts::cache::sqlite
