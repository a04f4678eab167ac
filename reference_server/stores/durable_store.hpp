// DurableStore: the embedded store behind serve mode, one SQLite database in
// WAL mode. It keeps what must survive a restart:
//   - the teams set through the admin API (they win over the config file's);
//   - plugin `storage` (meta.storage), keys already scoped per (team, plugin);
//   - plugin log lines and errors (each with the event that caused it), the
//     newest `keep_per_plugin` of each per (team, plugin);
//   - the forward sink's backlog: batches accepted but not yet delivered.
//
//   DurableStore store("posthog-plugin-server.db");
//   store.save_team(team);
//   DurableStorage storage(store);          // a PluginStorage for HostServices
//   store.append_error(record);             // buffered, written within ~200 ms
//
// One connection behind a mutex: SQLite serialises writers anyway, and every
// statement here is a point read or a short transaction. Log lines and errors
// are buffered and written in one transaction by a background thread, so a
// plugin that logs on every event does not pay a commit per line. Only this
// file's .cpp includes sqlite3.h.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "store_failure.hpp"
#include "team_registry.hpp"
#include "config/server_config.hpp"
#include "common/plugin_log.hpp"
#include "plugin_storage.hpp"

namespace posthog::server {

class StoreError : public StoreFailure {
 public:
  using StoreFailure::StoreFailure;
};

// A batch of events waiting for the forward sink: JSON lines of one project.
struct BacklogBatch {
  std::int64_t id = 0;  // assigned by the store, increasing
  std::string token;
  std::string lines;
  std::size_t events = 0;
};

struct BacklogSize {
  std::uint64_t batches = 0;
  std::uint64_t events = 0;
};

struct SqliteDb;

class DurableStore final : public TeamRegistry {
 public:
  // Opens or creates the database; throws StoreError naming the file.
  explicit DurableStore(const std::filesystem::path& file, std::size_t keep_per_plugin = 1000);
  ~DurableStore() override;
  DurableStore(const DurableStore&) = delete;
  DurableStore& operator=(const DurableStore&) = delete;

  const std::filesystem::path& file() const noexcept { return file_; }

  // Teams set through the admin API.
  void save_team(const TeamSpec& team) override;
  void delete_team(std::int64_t team_id) override;  // kept as a marker
  std::vector<StoredTeam> teams() override;

  // Plugin storage: JSON values by scoped key.
  std::optional<std::string> storage_get(std::string_view key);
  void storage_set(std::string_view key, std::string_view json);
  bool storage_del(std::string_view key);
  void storage_init_counter(std::string_view key, std::int64_t initial);
  std::int64_t storage_add_to_counter(std::string_view key, std::int64_t by);

  // Plugin logs and errors: buffered, durable within ~200 ms and at close.
  void append_log(const PluginLogLine& line);
  void append_error(const PluginErrorRecord& record);
  // Newest first. Both flush the buffer first, so they see everything appended.
  std::vector<PluginLogLine> log_lines(std::int64_t team_id, const std::string& plugin, std::size_t limit);
  std::vector<PluginErrorRecord> errors(std::int64_t team_id, const std::string& plugin, std::size_t limit);
  void flush_logs();

  // The forward sink's backlog, oldest first. push() is one transaction: all of
  // `batches` or none (throws StoreError).
  void backlog_push(std::vector<BacklogBatch>& batches);
  std::vector<BacklogBatch> backlog_oldest(std::size_t max_batches);
  void backlog_remove(const std::vector<std::int64_t>& ids);
  BacklogSize backlog_size();
  // A batch the target refused for good (4xx other than 429): kept aside, with
  // the answer, instead of blocking the batches behind it.
  void backlog_park(const BacklogBatch& batch, int status, std::string_view answer);
  std::uint64_t parked_batches();
  struct ParkedBatch {
    std::int64_t id;
    std::string token;
    std::size_t events;
    int status;
    std::string answer;
    std::chrono::system_clock::time_point at;
  };
  std::vector<ParkedBatch> parked(std::size_t limit);  // oldest first, without their events
  // Moves every parked batch back to the end of the backlog; the events moved.
  std::uint64_t unpark_all();

  // Runs `body` with the connection, holding the store's lock: for the other
  // tables' owners (ExportQueue), which bring their own statements.
  void locked(const std::function<void(SqliteDb&)>& body);

 private:
  struct Db;
  void write_pending_logs();  // with mutex_ held
  void log_writer_loop();

  std::filesystem::path file_;
  std::size_t keep_;
  std::unique_ptr<Db> db_;
  std::recursive_mutex mutex_;  // the connection; recursive so one transaction can span two users (locked())
  std::mutex pending_mutex_;
  std::condition_variable pending_cv_;
  std::vector<PluginLogLine> pending_lines_;
  std::vector<PluginErrorRecord> pending_errors_;
  bool stopping_ = false;
  std::thread log_writer_;
};

// meta.storage on the durable store.
class DurableStorage final : public PluginStorage {
 public:
  explicit DurableStorage(DurableStore& store) : store_(store) {}
  std::optional<std::string> get(std::string_view key) override { return store_.storage_get(key); }
  void set(std::string_view key, std::string_view json) override { store_.storage_set(key, json); }
  bool del(std::string_view key) override { return store_.storage_del(key); }
  void init_counter(std::string_view key, std::int64_t initial) override { store_.storage_init_counter(key, initial); }
  std::int64_t add_to_counter(std::string_view key, std::int64_t by) override {
    return store_.storage_add_to_counter(key, by);
  }

 private:
  DurableStore& store_;
};

}  // namespace posthog::server
