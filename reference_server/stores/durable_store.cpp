#include "durable_store.hpp"

#include <fcntl.h>
#include <unistd.h>

#include "sqlite_db.hpp"

#include <boost/json/parse.hpp>
#include <cstdio>
#include <boost/json/serialize.hpp>
#include <map>
#include <set>

#include "config/team_document.hpp"

namespace posthog::server {
namespace {

// Schema version in PRAGMA user_version; a newer file than this server knows is
// refused rather than misread. 2 added the export tables; 3 the job and
// schedule tables, and pending exports as chunks. Each table's owner creates
// and upgrades its own (StoreExportQueue, StoreJobQueue, StoreScheduleLock);
// these are the store's own: teams, plugin storage, logs and errors, and the
// forward sink's backlog.
constexpr int schema_version = 3;

constexpr const char* store_tables = R"sql(
CREATE TABLE IF NOT EXISTS teams (
  id INTEGER PRIMARY KEY, document TEXT, deleted INTEGER NOT NULL DEFAULT 0, updated_at INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS plugin_storage (
  key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS plugin_logs (
  id INTEGER PRIMARY KEY AUTOINCREMENT, team_id INTEGER NOT NULL, plugin TEXT NOT NULL,
  level INTEGER NOT NULL, message TEXT NOT NULL, at_ms INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS plugin_logs_by_plugin ON plugin_logs (team_id, plugin, id);
CREATE TABLE IF NOT EXISTS plugin_errors (
  id INTEGER PRIMARY KEY AUTOINCREMENT, team_id INTEGER NOT NULL, plugin TEXT NOT NULL,
  hook TEXT NOT NULL, kind TEXT NOT NULL, message TEXT NOT NULL, event_uuid TEXT NOT NULL,
  event_json TEXT NOT NULL, at_ms INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS plugin_errors_by_plugin ON plugin_errors (team_id, plugin, id);
CREATE TABLE IF NOT EXISTS forward_backlog (
  id INTEGER PRIMARY KEY AUTOINCREMENT, token TEXT NOT NULL, lines TEXT NOT NULL, events INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS forward_parked (
  id INTEGER PRIMARY KEY, token TEXT NOT NULL, lines TEXT NOT NULL, events INTEGER NOT NULL,
  status INTEGER NOT NULL, answer TEXT NOT NULL, at_ms INTEGER NOT NULL);
)sql";

std::int64_t to_ms(std::chrono::system_clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
}
std::chrono::system_clock::time_point from_ms(std::int64_t ms) {
  return std::chrono::system_clock::time_point(std::chrono::milliseconds(ms));
}

}  // namespace

struct DurableStore::Db : SqliteDb {
  std::unique_ptr<Statement> team_save, team_delete, team_all;
  std::unique_ptr<Statement> storage_get, storage_set, storage_del, storage_add;
  std::unique_ptr<Statement> log_insert, log_prune, log_read, error_insert, error_prune, error_read;
  std::unique_ptr<Statement> backlog_insert, backlog_read, backlog_delete, backlog_size, park, parked_count;

  ~Db() {
    // Statements first: sqlite3_close refuses while any is alive.
    team_save.reset(), team_delete.reset(), team_all.reset();
    storage_get.reset(), storage_set.reset(), storage_del.reset(), storage_add.reset();
    log_insert.reset(), log_prune.reset(), log_read.reset(), error_insert.reset(), error_prune.reset(),
        error_read.reset();
    backlog_insert.reset(), backlog_read.reset(), backlog_delete.reset(), backlog_size.reset(), park.reset(),
        parked_count.reset();
  }
};

DurableStore::DurableStore(const std::filesystem::path& file, std::size_t keep_per_plugin)
    : file_(file), keep_(keep_per_plugin), db_(std::make_unique<Db>()) {
  db_->file = file.string();
  // Plugin configs, secrets included, are kept here as plain text: a new
  // store is created readable by this user only (SQLite gives its -wal and
  // -shm files the same mode). An existing file keeps the mode its owner chose.
  if (int const fd = ::open(db_->file.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600); fd >= 0) ::close(fd);
  if (sqlite3_open_v2(db_->file.c_str(), &db_->handle, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                      nullptr) != SQLITE_OK) {
    std::string why = db_->handle ? sqlite3_errmsg(db_->handle) : "out of memory";
    throw StoreError(db_->file + ": cannot open the store: " + why);
  }
  sqlite3_busy_timeout(db_->handle, 5000);
  // WAL: readers never wait for the writer. synchronous=NORMAL: a commit is
  // durable against a process crash at once and against a power cut from the
  // next checkpoint on, at a fraction of FULL's cost.
  db_->exec("PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON;");
  {
    Statement version(db_->handle, "PRAGMA user_version", db_->file);
    version.step();
    auto const v = version.integer(0);
    version.done();
    if (v > schema_version)
      throw StoreError(db_->file + ": the store has schema version " + std::to_string(v) + ", this server knows " +
                       std::to_string(schema_version) + " (made by a newer server?)");
  }
  db_->exec(store_tables);
  db_->exec(("PRAGMA user_version=" + std::to_string(schema_version)).c_str());

  db_->begin = db_->prepare("BEGIN IMMEDIATE");
  db_->commit = db_->prepare("COMMIT");
  db_->rollback = db_->prepare("ROLLBACK");
  db_->team_save = db_->prepare(
      "INSERT INTO teams (id, document, deleted, updated_at) VALUES (?1, ?2, 0, ?3) "
      "ON CONFLICT(id) DO UPDATE SET document = excluded.document, deleted = 0, updated_at = excluded.updated_at");
  // A deletion is a marker, not a missing row: the config file may declare the
  // team too, and the deletion must win over it after a restart.
  db_->team_delete = db_->prepare(
      "INSERT INTO teams (id, document, deleted, updated_at) VALUES (?1, NULL, 1, ?2) "
      "ON CONFLICT(id) DO UPDATE SET document = NULL, deleted = 1, updated_at = excluded.updated_at");
  db_->team_all = db_->prepare("SELECT id, document, deleted FROM teams ORDER BY id");
  db_->storage_get = db_->prepare("SELECT value FROM plugin_storage WHERE key = ?1");
  db_->storage_set = db_->prepare(
      "INSERT INTO plugin_storage (key, value) VALUES (?1, ?2) ON CONFLICT(key) DO UPDATE SET value = excluded.value");
  db_->storage_del = db_->prepare("DELETE FROM plugin_storage WHERE key = ?1");
  db_->storage_add = db_->prepare("INSERT INTO plugin_storage (key, value) VALUES (?1, ?2) ON CONFLICT(key) DO NOTHING");
  db_->log_insert =
      db_->prepare("INSERT INTO plugin_logs (team_id, plugin, level, message, at_ms) VALUES (?1, ?2, ?3, ?4, ?5)");
  db_->log_prune = db_->prepare(
      "DELETE FROM plugin_logs WHERE team_id = ?1 AND plugin = ?2 AND id <= "
      "(SELECT id FROM plugin_logs WHERE team_id = ?1 AND plugin = ?2 ORDER BY id DESC LIMIT 1 OFFSET ?3)");
  db_->log_read = db_->prepare(
      "SELECT level, message, at_ms FROM plugin_logs WHERE team_id = ?1 AND plugin = ?2 ORDER BY id DESC LIMIT ?3");
  db_->error_insert = db_->prepare(
      "INSERT INTO plugin_errors (team_id, plugin, hook, kind, message, event_uuid, event_json, at_ms) "
      "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)");
  db_->error_prune = db_->prepare(
      "DELETE FROM plugin_errors WHERE team_id = ?1 AND plugin = ?2 AND id <= "
      "(SELECT id FROM plugin_errors WHERE team_id = ?1 AND plugin = ?2 ORDER BY id DESC LIMIT 1 OFFSET ?3)");
  db_->error_read = db_->prepare(
      "SELECT hook, kind, message, event_uuid, event_json, at_ms FROM plugin_errors "
      "WHERE team_id = ?1 AND plugin = ?2 ORDER BY id DESC LIMIT ?3");
  db_->backlog_insert = db_->prepare("INSERT INTO forward_backlog (token, lines, events) VALUES (?1, ?2, ?3)");
  db_->backlog_read = db_->prepare("SELECT id, token, lines, events FROM forward_backlog ORDER BY id LIMIT ?1");
  db_->backlog_delete = db_->prepare("DELETE FROM forward_backlog WHERE id = ?1");
  db_->backlog_size = db_->prepare("SELECT count(*), coalesce(sum(events), 0) FROM forward_backlog");
  db_->park = db_->prepare(
      "INSERT OR REPLACE INTO forward_parked (id, token, lines, events, status, answer, at_ms) "
      "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)");
  db_->parked_count = db_->prepare("SELECT count(*) FROM forward_parked");

  log_writer_ = std::thread([this] { log_writer_loop(); });
}

void DurableStore::locked(const std::function<void(SqliteDb&)>& body) {
  std::lock_guard lock(mutex_);  // re-entered when a transaction calls another user of the store
  body(*db_);
}

DurableStore::~DurableStore() {
  {
    std::lock_guard lock(pending_mutex_);
    stopping_ = true;
  }
  pending_cv_.notify_all();
  log_writer_.join();
  // The writer's last round wrote everything pending.
}

void DurableStore::save_team(const TeamSpec& team) {
  auto const document = boost::json::serialize(team_to_json(team));
  std::lock_guard lock(mutex_);
  db_->team_save->bind(1, team.id).bind(2, document).bind(3, to_ms(std::chrono::system_clock::now())).run();
}

void DurableStore::delete_team(std::int64_t team_id) {
  std::lock_guard lock(mutex_);
  db_->team_delete->bind(1, team_id).bind(2, to_ms(std::chrono::system_clock::now())).run();
}

std::vector<StoredTeam> DurableStore::teams() {
  struct Row {
    std::int64_t id;
    std::string document;
    bool deleted;
  };
  std::vector<Row> rows;
  {
    std::lock_guard lock(mutex_);
    auto& q = *db_->team_all;
    while (q.step()) rows.push_back({q.integer(0), q.text(1), q.integer(2) != 0});
  }
  std::vector<StoredTeam> out;
  for (auto const& [id, document, deleted] : rows) {
    if (deleted) {
      out.push_back({TeamSpec{id, {}, {}}, true});
      continue;
    }
    try {
      out.push_back({team_from_json(boost::json::parse(document), id), false});
    } catch (const std::exception& e) {
      throw StoreError(file_.string() + ": team " + std::to_string(id) + " cannot be read back: " + e.what());
    }
  }
  return out;
}

std::optional<std::string> DurableStore::storage_get(std::string_view key) {
  std::lock_guard lock(mutex_);
  auto& q = *db_->storage_get;
  q.bind(1, key);
  if (!q.step()) return std::nullopt;
  auto value = q.text(0);
  q.done();
  return value;
}

void DurableStore::storage_set(std::string_view key, std::string_view json) {
  std::lock_guard lock(mutex_);
  db_->storage_set->bind(1, key).bind(2, json).run();
}

bool DurableStore::storage_del(std::string_view key) {
  std::lock_guard lock(mutex_);
  db_->storage_del->bind(1, key).run();
  return sqlite3_changes(db_->handle) > 0;
}

void DurableStore::storage_init_counter(std::string_view key, std::int64_t initial) {
  std::lock_guard lock(mutex_);
  db_->storage_add->bind(1, key).bind(2, std::to_string(initial)).run();
}

std::int64_t DurableStore::storage_add_to_counter(std::string_view key, std::int64_t by) {
  std::lock_guard lock(mutex_);  // one connection: the read and the write are one step for every thread
  std::int64_t result = 0;
  db_->transaction([&] {
    auto& q = *db_->storage_get;
    q.bind(1, key);
    std::int64_t now = 0;
    if (q.step()) {
      auto const text = q.text(0);
      q.done();
      now = counter_value(key, text);
    }
    result = counter_sum(now, by);
    db_->storage_set->bind(1, key).bind(2, std::to_string(result)).run();
  });
  return result;
}

void DurableStore::append_log(const PluginLogLine& line) {
  std::lock_guard lock(pending_mutex_);
  pending_lines_.push_back(line);
}

void DurableStore::append_error(const PluginErrorRecord& record) {
  std::lock_guard lock(pending_mutex_);
  pending_errors_.push_back(record);
}

void DurableStore::flush_logs() {
  std::lock_guard lock(mutex_);
  write_pending_logs();
}

void DurableStore::write_pending_logs() {
  std::vector<PluginLogLine> lines;
  std::vector<PluginErrorRecord> errors;
  {
    std::lock_guard lock(pending_mutex_);
    lines.swap(pending_lines_);
    errors.swap(pending_errors_);
  }
  if (lines.empty() && errors.empty()) return;
  std::set<std::pair<std::int64_t, std::string>> touched_lines, touched_errors;
  db_->transaction([&] {
    for (auto const& l : lines) {
      db_->log_insert->bind(1, l.team_id).bind(2, l.plugin).bind(3, l.level).bind(4, l.message).bind(5, to_ms(l.at)).run();
      touched_lines.emplace(l.team_id, l.plugin);
    }
    for (auto const& e : errors) {
      db_->error_insert->bind(1, e.team_id)
          .bind(2, e.plugin)
          .bind(3, e.hook)
          .bind(4, e.kind)
          .bind(5, e.message)
          .bind(6, e.event_uuid)
          .bind(7, e.event_json)
          .bind(8, to_ms(e.at))
          .run();
      touched_errors.emplace(e.team_id, e.plugin);
    }
    auto const keep = static_cast<std::int64_t>(keep_);
    for (auto const& [team, plugin] : touched_lines) db_->log_prune->bind(1, team).bind(2, plugin).bind(3, keep).run();
    for (auto const& [team, plugin] : touched_errors)
      db_->error_prune->bind(1, team).bind(2, plugin).bind(3, keep).run();
  });
}

void DurableStore::log_writer_loop() {
  std::unique_lock lock(pending_mutex_);
  for (;;) {
    pending_cv_.wait_for(lock, std::chrono::milliseconds(200), [&] { return stopping_; });
    bool const last = stopping_;
    lock.unlock();
    try {
      std::lock_guard db_lock(mutex_);
      write_pending_logs();
    } catch (const StoreError& e) {
      // Nowhere better to say it: the log itself is what failed.
      std::fprintf(stderr, "{\"type\":\"store_error\",\"message\":\"plugin logs not written: %s\"}\n", e.what());
    }
    if (last) return;
    lock.lock();
  }
}

std::vector<PluginLogLine> DurableStore::log_lines(std::int64_t team_id, const std::string& plugin, std::size_t limit) {
  std::lock_guard lock(mutex_);
  write_pending_logs();
  std::vector<PluginLogLine> out;
  auto& q = *db_->log_read;
  q.bind(1, team_id).bind(2, plugin).bind(3, static_cast<std::int64_t>(limit));
  while (q.step()) out.push_back({team_id, plugin, static_cast<int>(q.integer(0)), q.text(1), from_ms(q.integer(2))});
  return out;
}

std::vector<PluginErrorRecord> DurableStore::errors(std::int64_t team_id, const std::string& plugin,
                                                    std::size_t limit) {
  std::lock_guard lock(mutex_);
  write_pending_logs();
  std::vector<PluginErrorRecord> out;
  auto& q = *db_->error_read;
  q.bind(1, team_id).bind(2, plugin).bind(3, static_cast<std::int64_t>(limit));
  while (q.step())
    out.push_back({team_id, plugin, q.text(0), q.text(1), q.text(2), q.text(3), q.text(4), from_ms(q.integer(5))});
  return out;
}

void DurableStore::backlog_push(std::vector<BacklogBatch>& batches) {
  std::lock_guard lock(mutex_);
  db_->transaction([&] {
    for (auto& b : batches) {
      db_->backlog_insert->bind(1, b.token).bind(2, b.lines).bind(3, static_cast<std::int64_t>(b.events)).run();
      b.id = sqlite3_last_insert_rowid(db_->handle);
    }
  });
}

std::vector<BacklogBatch> DurableStore::backlog_oldest(std::size_t max_batches) {
  std::lock_guard lock(mutex_);
  std::vector<BacklogBatch> out;
  auto& q = *db_->backlog_read;
  q.bind(1, static_cast<std::int64_t>(max_batches));
  while (q.step()) out.push_back({q.integer(0), q.text(1), q.text(2), static_cast<std::size_t>(q.integer(3))});
  return out;
}

void DurableStore::backlog_remove(const std::vector<std::int64_t>& ids) {
  std::lock_guard lock(mutex_);
  db_->transaction([&] {
    for (auto id : ids) db_->backlog_delete->bind(1, id).run();
  });
}

BacklogSize DurableStore::backlog_size() {
  std::lock_guard lock(mutex_);
  auto& q = *db_->backlog_size;
  q.step();
  BacklogSize s{static_cast<std::uint64_t>(q.integer(0)), static_cast<std::uint64_t>(q.integer(1))};
  q.done();
  return s;
}

void DurableStore::backlog_park(const BacklogBatch& batch, int status, std::string_view answer) {
  std::lock_guard lock(mutex_);
  db_->transaction([&] {
    db_->park->bind(1, batch.id)
        .bind(2, batch.token)
        .bind(3, batch.lines)
        .bind(4, static_cast<std::int64_t>(batch.events))
        .bind(5, status)
        .bind(6, answer.substr(0, 4096))
        .bind(7, to_ms(std::chrono::system_clock::now()))
        .run();
    db_->backlog_delete->bind(1, batch.id).run();
  });
}

std::vector<DurableStore::ParkedBatch> DurableStore::parked(std::size_t limit) {
  std::lock_guard lock(mutex_);
  Statement q(db_->handle, "SELECT id, token, events, status, answer, at_ms FROM forward_parked ORDER BY id LIMIT ?1",
              db_->file);
  q.bind(1, static_cast<std::int64_t>(limit));
  std::vector<ParkedBatch> out;
  while (q.step())
    out.push_back({q.integer(0), q.text(1), static_cast<std::size_t>(q.integer(2)), static_cast<int>(q.integer(3)),
                   q.text(4), from_ms(q.integer(5))});
  return out;
}

std::uint64_t DurableStore::unpark_all() {
  std::lock_guard lock(mutex_);
  std::uint64_t events = 0;
  db_->transaction([&] {
    Statement sum(db_->handle, "SELECT coalesce(sum(events), 0) FROM forward_parked", db_->file);
    sum.step();
    events = static_cast<std::uint64_t>(sum.integer(0));
    sum.done();
    db_->exec(
        "INSERT INTO forward_backlog (token, lines, events) SELECT token, lines, events FROM forward_parked ORDER BY id;"
        "DELETE FROM forward_parked;");
  });
  return events;
}

std::uint64_t DurableStore::parked_batches() {
  std::lock_guard lock(mutex_);
  auto& q = *db_->parked_count;
  q.step();
  auto const n = static_cast<std::uint64_t>(q.integer(0));
  q.done();
  return n;
}

}  // namespace posthog::server
