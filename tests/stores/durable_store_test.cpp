// The embedded durable store: what must survive a restart does.
#include <catch2/catch.hpp>

#include <boost/json.hpp>
#include <filesystem>
#include <sqlite3.h>
#include <unistd.h>

#include "stores/store_export_queue.hpp"
#include "stores/durable_store.hpp"

namespace durable_store_test {

using namespace posthog::server;

namespace {

struct TempDir {
  std::filesystem::path path;
  TempDir() {
    char tmpl[] = "/tmp/posthog-store-XXXXXX";
    path = ::mkdtemp(tmpl);
  }
  ~TempDir() { std::filesystem::remove_all(path); }
  std::filesystem::path file() const { return path / "store.db"; }
};

TeamSpec team(std::int64_t id, std::string token) {
  TeamSpec t;
  t.id = id;
  t.token = std::move(token);
  t.plugins.push_back({"testkit", true, {{"label", "x"}, {"api_key", "secret"}}});
  t.plugins.push_back({"helloworld", false, {}});
  return t;
}

}  // namespace

TEST_CASE("Teams, storage and logs survive closing and reopening the store", "[stores][durable]") {
  TempDir dir;
  auto const now = std::chrono::system_clock::now();
  {
    DurableStore store(dir.file());
    store.save_team(team(7, "phc_seven"));
    store.save_team(team(3, "phc_three"));
    store.save_team(team(7, "phc_seven_renamed"));  // replaces
    store.storage_set("@plugin/testkit/7/k", R"({"a":1})");
    store.storage_set("@plugin/testkit/7/gone", "1");
    CHECK(store.storage_del("@plugin/testkit/7/gone"));
    CHECK_FALSE(store.storage_del("@plugin/testkit/7/never"));
    store.append_log({7, "testkit", 2, "hello from team 7", now});
    store.append_error({7, "testkit", "process_event", "std::runtime_error", "boom", "u-1", R"({"event":"e"})", now});
  }  // closing writes the buffered log lines
  DurableStore store(dir.file());
  auto stored = store.teams();
  REQUIRE(stored.size() == 2);
  CHECK(stored[0].team.id == 3);
  CHECK(stored[1].team.id == 7);
  CHECK_FALSE(stored[1].deleted);
  auto const& seven = stored[1].team;
  CHECK(seven.token == "phc_seven_renamed");
  REQUIRE(seven.plugins.size() == 2);
  CHECK(seven.plugins[0].config.at("api_key") == "secret");  // stored in full; redaction is the API's job
  CHECK_FALSE(seven.plugins[1].enabled);
  CHECK(store.storage_get("@plugin/testkit/7/k") == std::optional<std::string>(R"({"a":1})"));
  CHECK_FALSE(store.storage_get("@plugin/testkit/7/gone"));
  CHECK_FALSE(store.storage_get("@plugin/testkit/8/k"));  // another team's key is another key

  auto lines = store.log_lines(7, "testkit", 10);
  REQUIRE(lines.size() == 1);
  CHECK(lines[0].message == "hello from team 7");
  CHECK(lines[0].level == 2);
  auto errors = store.errors(7, "testkit", 10);
  REQUIRE(errors.size() == 1);
  CHECK(errors[0].hook == "process_event");
  CHECK(errors[0].event_uuid == "u-1");
  CHECK(errors[0].event_json == R"({"event":"e"})");
  CHECK(store.errors(8, "testkit", 10).empty());

  // A deletion is kept as a marker (the config file may declare the team too),
  // and saving the team again clears it.
  store.delete_team(3);
  store.delete_team(11);
  stored = store.teams();
  REQUIRE(stored.size() == 3);
  CHECK(stored[0].deleted);
  CHECK(stored[2].team.id == 11);
  CHECK(stored[2].deleted);
  store.save_team(team(3, "phc_three_again"));
  CHECK_FALSE(store.teams()[0].deleted);
  CHECK(store.teams()[0].team.token == "phc_three_again");
}

TEST_CASE("Only the newest log lines and errors are kept per (team, plugin)", "[stores][durable]") {
  TempDir dir;
  DurableStore store(dir.file(), 5);
  for (int i = 0; i < 12; ++i) {
    store.append_log({1, "a", 1, "line " + std::to_string(i), {}});
    if (i % 4 == 0) store.flush_logs();  // pruning happens across several writes
  }
  store.append_log({2, "a", 1, "other team", {}});
  auto lines = store.log_lines(1, "a", 100);
  REQUIRE(lines.size() == 5);
  CHECK(lines.front().message == "line 11");  // newest first
  CHECK(lines.back().message == "line 7");
  CHECK(store.log_lines(2, "a", 100).size() == 1);
  CHECK(store.log_lines(1, "a", 2).size() == 2);
}

TEST_CASE("The forward backlog keeps batches in order until removed or parked", "[stores][durable]") {
  TempDir dir;
  std::vector<std::int64_t> ids;
  {
    DurableStore store(dir.file());
    std::vector<BacklogBatch> batches{{0, "phc_a", "{\"n\":1}\n{\"n\":2}\n", 2}, {0, "phc_b", "{\"n\":3}\n", 1}};
    store.backlog_push(batches);
    CHECK(batches[0].id < batches[1].id);
    std::vector<BacklogBatch> more{{0, "phc_a", "{\"n\":4}\n", 1}};
    store.backlog_push(more);
    CHECK(store.backlog_size().batches == 3);
    CHECK(store.backlog_size().events == 4);
  }
  DurableStore store(dir.file());
  auto oldest = store.backlog_oldest(2);
  REQUIRE(oldest.size() == 2);
  CHECK(oldest[0].token == "phc_a");
  CHECK(oldest[0].events == 2);
  CHECK(oldest[1].lines == "{\"n\":3}\n");
  store.backlog_remove({oldest[0].id});
  store.backlog_park(oldest[1], 400, "{\"error\":\"bad\"}");
  CHECK(store.parked_batches() == 1);
  auto rest = store.backlog_oldest(10);
  REQUIRE(rest.size() == 1);
  CHECK(rest[0].lines == "{\"n\":4}\n");
  CHECK(store.backlog_size().events == 1);
}

TEST_CASE("A store that cannot be opened, or is newer than the server, is refused by name", "[stores][durable]") {
  TempDir dir;
  CHECK_THROWS_WITH(DurableStore(dir.path / "no" / "such" / "dir" / "x.db"),
                    Catch::Contains("no/such/dir/x.db") && Catch::Contains("cannot open"));
  { DurableStore store(dir.file()); }
  sqlite3* db = nullptr;  // a newer server's file
  REQUIRE(sqlite3_open(dir.file().c_str(), &db) == SQLITE_OK);
  REQUIRE(sqlite3_exec(db, "PRAGMA user_version=99", nullptr, nullptr, nullptr) == SQLITE_OK);
  sqlite3_close(db);
  CHECK_THROWS_WITH(DurableStore(dir.file()), Catch::Contains("schema version 99"));
}

TEST_CASE("A version 2 store keeps its pending and retrying exports when opened by this server", "[stores][durable]") {
  TempDir dir;
  sqlite3* db = nullptr;  // the export tables as version 2 made them: one row per pending event
  REQUIRE(sqlite3_open(dir.file().c_str(), &db) == SQLITE_OK);
  REQUIRE(sqlite3_exec(db, R"sql(
    CREATE TABLE export_pending (
      id INTEGER PRIMARY KEY AUTOINCREMENT, team_id INTEGER NOT NULL, plugin TEXT NOT NULL,
      event TEXT NOT NULL, at_ms INTEGER NOT NULL);
    CREATE TABLE export_batches (
      id INTEGER PRIMARY KEY AUTOINCREMENT, team_id INTEGER NOT NULL, plugin TEXT NOT NULL,
      events TEXT NOT NULL, count INTEGER NOT NULL, attempt INTEGER NOT NULL, next_at_ms INTEGER NOT NULL,
      last_error TEXT NOT NULL, dead INTEGER NOT NULL DEFAULT 0);
    INSERT INTO export_pending (team_id, plugin, event, at_ms) VALUES
      (1, 'x', '{"seq":3}', 10), (1, 'x', '{"seq":4}', 11);
    INSERT INTO export_batches (team_id, plugin, events, count, attempt, next_at_ms, last_error) VALUES
      (1, 'x', '{"seq":1}' || char(10) || '{"seq":2}' || char(10), 2, 1, 20, 'busy');
    PRAGMA user_version=2;)sql",
                       nullptr, nullptr, nullptr) == SQLITE_OK);
  sqlite3_close(db);

  DurableStore store(dir.file());
  StoreExportQueue queue(store);
  auto const pending = queue.pending();
  REQUIRE(pending.size() == 1);
  CHECK(pending[0].events == 2);
  auto const retrying = queue.due(20, 10);
  REQUIRE(retrying.size() == 1);
  CHECK(retrying[0].events == std::vector<std::string>{R"({"seq":1})", R"({"seq":2})"});
  CHECK(retrying[0].attempt == 1);
  auto const cut = queue.cut_batch(1, "x", 1 << 20, 100, 30);
  REQUIRE(cut);
  CHECK(cut->events == std::vector<std::string>{R"({"seq":3})", R"({"seq":4})"});
  CHECK(queue.due(30, 10).at(1).events == cut->events);
}

TEST_CASE("Pending exports are chunks; a batch takes whole chunks and splits the one its bounds fall in",
          "[stores][durable]") {
  TempDir dir;
  DurableStore store(dir.file());
  StoreExportQueue queue(store);
  auto rows = [](int from, int to) {
    std::vector<ExportRow> out;
    for (int i = from; i <= to; ++i) out.push_back({1, "x", R"({"seq":)" + std::to_string(i) + "}"});  // 9-10 bytes
    return out;
  };
  queue.append(rows(1, 3), 100);  // one chunk per append and (team, plugin)
  queue.append(rows(4, 6), 101);
  queue.append({{2, "x", R"({"other":1})"}}, 102);
  CHECK(queue.counts(1, "x").pending_events == 6);
  CHECK(queue.counts(1, "x").pending_bytes == 54);

  auto const first = queue.cut_batch(1, "x", 1 << 20, 4, 200);  // the event bound falls in the second chunk
  REQUIRE(first);
  CHECK(first->events == std::vector<std::string>{R"({"seq":1})", R"({"seq":2})", R"({"seq":3})", R"({"seq":4})"});
  CHECK(queue.counts(1, "x").pending_events == 2);
  auto const second = queue.cut_batch(1, "x", 10, 100, 200);  // the byte bound: one event (at least one)
  REQUIRE(second);
  CHECK(second->events == std::vector<std::string>{R"({"seq":5})"});
  queue.append(rows(7, 7), 103);
  auto const third = queue.cut_batch(1, "x", 1 << 20, 100, 200);
  REQUIRE(third);
  CHECK(third->events == std::vector<std::string>{R"({"seq":6})", R"({"seq":7})"});
  CHECK_FALSE(queue.cut_batch(1, "x", 1 << 20, 100, 200));
  CHECK(queue.counts(2, "x").pending_events == 1);  // another team's chunk is not touched

  // Delivering one batch removes its events only; the others still read back whole.
  queue.delivered(first->id);
  auto const due = queue.due(200, 10);
  REQUIRE(due.size() == 2);
  CHECK(due[0].events == second->events);
  CHECK(due[1].events == third->events);
  queue.delivered(second->id);
  queue.delivered(third->id);
  CHECK(queue.totals().pending_events == 1);
  CHECK(queue.due(200, 10).empty());

  // One event above the byte bound, alone in its chunk: taken whole, nothing left pending.
  queue.append({{3, "x", std::string(R"({"big":")") + std::string(100, 'b') + "\"}"}}, 104);
  auto const big = queue.cut_batch(3, "x", 10, 100, 200);
  REQUIRE(big);
  CHECK(big->events.size() == 1);
  CHECK(queue.counts(3, "x").pending_events == 0);
  for (auto const& p : queue.pending()) CHECK(p.team_id != 3);
  CHECK_FALSE(queue.cut_batch(3, "x", 10, 100, 200));
}

}  // namespace durable_store_test
