// SqliteDb and Statement: the few things every user of the embedded store's
// SQLite connection needs (prepared statements, transactions). Private to
// stores/, exports/ and jobs/: include it only from a .cpp. The connection belongs to
// DurableStore; others reach it through DurableStore::locked().
#pragma once

#include <sqlite3.h>

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "durable_store.hpp"

namespace posthog::server {

// A prepared statement, reset after every use.
class Statement {
 public:
  Statement(sqlite3* db, const char* sql, const std::string& file) : db_(db) {
    if (sqlite3_prepare_v3(db, sql, -1, SQLITE_PREPARE_PERSISTENT, &stmt_, nullptr) != SQLITE_OK)
      throw StoreError(file + ": cannot prepare '" + sql + "': " + sqlite3_errmsg(db));
  }
  ~Statement() { sqlite3_finalize(stmt_); }
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;

  Statement& bind(int i, std::int64_t v) {
    sqlite3_bind_int64(stmt_, i, v);
    return *this;
  }
  Statement& bind(int i, std::string_view v) {
    sqlite3_bind_text(stmt_, i, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT);
    return *this;
  }
  // True while there is a row; throws on error. Resets when done.
  bool step() {
    int const rc = sqlite3_step(stmt_);
    if (rc == SQLITE_ROW) return true;
    sqlite3_reset(stmt_);
    sqlite3_clear_bindings(stmt_);
    if (rc != SQLITE_DONE) throw StoreError(std::string("store: ") + sqlite3_errmsg(db_));
    return false;
  }
  void run() {
    while (step()) {
    }
  }
  void done() {  // after reading the rows wanted, before the last
    sqlite3_reset(stmt_);
    sqlite3_clear_bindings(stmt_);
  }
  std::int64_t integer(int col) const { return sqlite3_column_int64(stmt_, col); }
  std::string text(int col) const {
    auto const* p = reinterpret_cast<const char*>(sqlite3_column_text(stmt_, col));
    return p ? std::string(p, static_cast<std::size_t>(sqlite3_column_bytes(stmt_, col))) : std::string();
  }

 private:
  sqlite3* db_;
  sqlite3_stmt* stmt_ = nullptr;
};

// One connection. Not thread-safe: DurableStore's mutex guards it.
struct SqliteDb {
  sqlite3* handle = nullptr;
  std::string file;
  std::unique_ptr<Statement> begin, commit, rollback;

  void exec(const char* sql) {
    char* message = nullptr;
    if (sqlite3_exec(handle, sql, nullptr, nullptr, &message) != SQLITE_OK) {
      std::string why = message ? message : "unknown error";
      sqlite3_free(message);
      throw StoreError(file + ": " + why);
    }
  }
  std::unique_ptr<Statement> prepare(const char* sql) { return std::make_unique<Statement>(handle, sql, file); }
  std::int64_t last_insert_id() const { return sqlite3_last_insert_rowid(handle); }
  // Rows the last INSERT, UPDATE or DELETE touched.
  std::int64_t changes() const { return sqlite3_changes64(handle); }

  // Runs `body` in a transaction: committed when it returns, rolled back when
  // it throws. Inside another transaction (a nested locked() call) it is part of
  // the outer one: committed or rolled back with it.
  template <class F>
  void transaction(F&& body) {
    if (depth > 0) {
      ++depth;
      try {
        body();
      } catch (...) {
        --depth;
        throw;
      }
      --depth;
      return;
    }
    begin->run();
    depth = 1;
    try {
      body();
      depth = 0;
      commit->run();
    } catch (...) {
      depth = 0;
      rollback->run();
      throw;
    }
  }
  int depth = 0;  // transactions open (the outer one and those joined to it)

  SqliteDb() = default;
  SqliteDb(const SqliteDb&) = delete;
  SqliteDb& operator=(const SqliteDb&) = delete;
  // Derived classes reset their statements first: sqlite3_close refuses while any is alive.
  virtual ~SqliteDb() {
    begin.reset(), commit.reset(), rollback.reset();
    if (handle) sqlite3_close(handle);
  }
};

}  // namespace posthog::server
