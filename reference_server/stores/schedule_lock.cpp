#include "schedule_lock.hpp"

#include "sqlite_db.hpp"

namespace posthog::server {

struct StoreScheduleLock::Statements {
  std::unique_ptr<Statement> seed, claim, read;
};

StoreScheduleLock::StoreScheduleLock(DurableStore& store) : store_(store), s_(std::make_unique<Statements>()) {
  store_.locked([&](SqliteDb& db) {
    // The schedule's table, this file's alone.
    db.exec("CREATE TABLE IF NOT EXISTS schedule_periods (task TEXT PRIMARY KEY, period_start_ms INTEGER NOT NULL) "
            "WITHOUT ROWID;");
    s_->seed = db.prepare("INSERT OR IGNORE INTO schedule_periods (task, period_start_ms) VALUES (?1, ?2)");
    s_->claim = db.prepare(
        "UPDATE schedule_periods SET period_start_ms = ?2 WHERE task = ?1 AND period_start_ms < ?2");
    s_->read = db.prepare("SELECT period_start_ms FROM schedule_periods WHERE task = ?1");
  });
}

StoreScheduleLock::~StoreScheduleLock() {
  store_.locked([&](SqliteDb&) { s_.reset(); });
}

void StoreScheduleLock::seed(std::string_view task, std::int64_t period_start_ms) {
  store_.locked([&](SqliteDb&) { s_->seed->bind(1, task).bind(2, period_start_ms).run(); });
}

bool StoreScheduleLock::claim(std::string_view task, std::int64_t period_start_ms,
                              const std::function<void()>& then) {
  bool claimed = false;
  store_.locked([&](SqliteDb& db) {
    db.transaction([&] {
      s_->claim->bind(1, task).bind(2, period_start_ms).run();
      claimed = db.changes() == 1;
      if (claimed) then();
    });
  });
  return claimed;
}

std::optional<std::int64_t> StoreScheduleLock::last_period(std::string_view task) {
  std::optional<std::int64_t> last;
  store_.locked([&](SqliteDb&) {
    if (s_->read->bind(1, task).step()) {
      last = s_->read->integer(0);
      s_->read->done();
    }
  });
  return last;
}

}  // namespace posthog::server
