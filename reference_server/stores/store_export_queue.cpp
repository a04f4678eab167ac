#include "store_export_queue.hpp"

#include "sqlite_db.hpp"

#include <iterator>
#include <map>
#include <string_view>
#include <utility>

namespace posthog::server {

namespace {

std::string join_lines(const std::vector<std::string>& events) {
  std::string out;
  for (auto const& e : events) {
    out += e;
    out += '\n';
  }
  return out;
}

std::vector<std::string> split_lines(const std::string& text) {
  std::vector<std::string> out;
  std::size_t start = 0;
  for (auto nl = text.find('\n'); nl != std::string::npos; nl = text.find('\n', start)) {
    out.push_back(text.substr(start, nl - start));
    start = nl + 1;
  }
  return out;
}

// The export tables, this file's alone: pending events as chunks that
// batches refer to by range, a cut mark per (team, plugin), the batches.
constexpr const char* export_tables = R"sql(
CREATE TABLE IF NOT EXISTS export_chunks (
  id INTEGER PRIMARY KEY AUTOINCREMENT, team_id INTEGER NOT NULL, plugin TEXT NOT NULL,
  events TEXT NOT NULL, count INTEGER NOT NULL, bytes INTEGER NOT NULL, at_ms INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS export_chunks_by_plugin ON export_chunks (team_id, plugin, id);
CREATE TABLE IF NOT EXISTS export_cut_marks (
  team_id INTEGER NOT NULL, plugin TEXT NOT NULL, last_chunk INTEGER NOT NULL,
  PRIMARY KEY (team_id, plugin)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS export_batches (
  id INTEGER PRIMARY KEY AUTOINCREMENT, team_id INTEGER NOT NULL, plugin TEXT NOT NULL,
  events TEXT NOT NULL, count INTEGER NOT NULL, attempt INTEGER NOT NULL, next_at_ms INTEGER NOT NULL,
  last_error TEXT NOT NULL, dead INTEGER NOT NULL DEFAULT 0,
  first_chunk INTEGER NOT NULL DEFAULT 0, last_chunk INTEGER NOT NULL DEFAULT 0);
CREATE INDEX IF NOT EXISTS export_batches_due ON export_batches (dead, next_at_ms);
)sql";

// Version 2 batches held all their events inline (they still read back: the
// range columns default to none), and pending events were one row each.
void upgrade_exports_from_v2(SqliteDb& db) {
  Statement range(db.handle, "SELECT 1 FROM pragma_table_info('export_batches') WHERE name = 'last_chunk'", db.file);
  bool const has_range = range.step();
  if (has_range) range.done();
  if (!has_range)
    db.exec(
        "ALTER TABLE export_batches ADD COLUMN first_chunk INTEGER NOT NULL DEFAULT 0;"
        "ALTER TABLE export_batches ADD COLUMN last_chunk INTEGER NOT NULL DEFAULT 0;");
  Statement old(db.handle, "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'export_pending'", db.file);
  bool const has_old = old.step();
  if (has_old) old.done();
  if (has_old)
    db.exec(
        "BEGIN IMMEDIATE;"
        "INSERT INTO export_chunks (team_id, plugin, events, count, bytes, at_ms) "
        "SELECT team_id, plugin, event || char(10), 1, length(CAST(event AS BLOB)), at_ms FROM export_pending "
        "ORDER BY id;"
        "DROP TABLE export_pending;"
        "COMMIT;");
}

}  // namespace

struct StoreExportQueue::Statements {
  std::unique_ptr<Statement> append, pending, take, keep_rest, mark_cut, insert_batch, due, batch_chunks, batch_range,
      remove_chunks, remove_batch, retry, dead, dead_list, replay, counts_pending, counts_batches, totals_pending,
      totals_batches;
};

// Pending: the chunks of (team, plugin) after its cut mark. Cutting a batch
// moves the mark and records the range of chunks in the batch, so the events
// are written once, when queued, and deleted once, when delivered: never
// copied from one table to the other.
constexpr const char* after_mark =
    " c LEFT JOIN export_cut_marks m ON m.team_id = c.team_id AND m.plugin = c.plugin "
    "WHERE c.id > coalesce(m.last_chunk, 0)";

StoreExportQueue::StoreExportQueue(DurableStore& store) : store_(store), s_(std::make_unique<Statements>()) {
  store_.locked([&](SqliteDb& db) {
    db.exec(export_tables);
    upgrade_exports_from_v2(db);
    s_->append = db.prepare(
        "INSERT INTO export_chunks (team_id, plugin, events, count, bytes, at_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6)");
    s_->pending = db.prepare((std::string("SELECT c.team_id, c.plugin, sum(c.count), sum(c.bytes), min(c.at_ms) "
                                          "FROM export_chunks") +
                              after_mark + " GROUP BY c.team_id, c.plugin ORDER BY c.team_id, c.plugin")
                                 .c_str());
    s_->take = db.prepare(
        "SELECT id, events, count, bytes FROM export_chunks WHERE team_id = ?1 AND plugin = ?2 AND id > "
        "coalesce((SELECT last_chunk FROM export_cut_marks WHERE team_id = ?1 AND plugin = ?2), 0) "
        "ORDER BY id LIMIT ?3");
    s_->keep_rest = db.prepare("UPDATE export_chunks SET events = ?2, count = ?3, bytes = ?4 WHERE id = ?1");
    s_->mark_cut = db.prepare(
        "INSERT INTO export_cut_marks (team_id, plugin, last_chunk) VALUES (?1, ?2, ?3) "
        "ON CONFLICT(team_id, plugin) DO UPDATE SET last_chunk = excluded.last_chunk");
    s_->insert_batch = db.prepare(
        "INSERT INTO export_batches (team_id, plugin, events, count, attempt, next_at_ms, last_error, dead, "
        "first_chunk, last_chunk) VALUES (?1, ?2, ?3, ?4, 0, ?5, '', 0, ?6, ?7)");
    s_->due = db.prepare(
        "SELECT id, team_id, plugin, events, attempt, next_at_ms, last_error, first_chunk, last_chunk "
        "FROM export_batches WHERE dead = 0 AND next_at_ms <= ?1 ORDER BY next_at_ms, id LIMIT ?2");
    s_->batch_chunks = db.prepare(
        "SELECT events FROM export_chunks WHERE team_id = ?1 AND plugin = ?2 AND id BETWEEN ?3 AND ?4 ORDER BY id");
    s_->batch_range = db.prepare("SELECT team_id, plugin, first_chunk, last_chunk FROM export_batches WHERE id = ?1");
    s_->remove_chunks =
        db.prepare("DELETE FROM export_chunks WHERE team_id = ?1 AND plugin = ?2 AND id BETWEEN ?3 AND ?4");
    s_->remove_batch = db.prepare("DELETE FROM export_batches WHERE id = ?1");
    s_->retry = db.prepare("UPDATE export_batches SET attempt = ?2, next_at_ms = ?3, last_error = ?4 WHERE id = ?1");
    s_->dead = db.prepare("UPDATE export_batches SET attempt = ?2, last_error = ?3, dead = 1 WHERE id = ?1");
    s_->dead_list = db.prepare(
        "SELECT id, count, attempt, next_at_ms, last_error FROM export_batches "
        "WHERE dead = 1 AND team_id = ?1 AND plugin = ?2 ORDER BY id LIMIT ?3");
    s_->replay = db.prepare(
        "UPDATE export_batches SET dead = 0, attempt = 0, next_at_ms = ?2 WHERE id = ?1 AND dead = 1");
    s_->counts_pending = db.prepare(
        (std::string("SELECT coalesce(sum(c.count), 0), coalesce(sum(c.bytes), 0) FROM export_chunks") + after_mark +
         " AND c.team_id = ?1 AND c.plugin = ?2")
            .c_str());
    s_->counts_batches = db.prepare(
        "SELECT coalesce(sum(dead = 0), 0), coalesce(sum(dead = 1), 0) FROM export_batches "
        "WHERE team_id = ?1 AND plugin = ?2");
    s_->totals_pending = db.prepare(
        (std::string("SELECT coalesce(sum(c.count), 0), coalesce(sum(c.bytes), 0) FROM export_chunks") + after_mark)
            .c_str());
    s_->totals_batches =
        db.prepare("SELECT coalesce(sum(dead = 0), 0), coalesce(sum(dead = 1), 0) FROM export_batches");
  });
}

StoreExportQueue::~StoreExportQueue() {
  // The statements go under the store's lock, before the store closes.
  store_.locked([&](SqliteDb&) { s_.reset(); });
}

void StoreExportQueue::append(const std::vector<ExportRow>& rows, std::int64_t now_ms) {
  if (rows.empty()) return;
  struct Chunk {
    std::string lines;
    std::int64_t count = 0;
    std::int64_t bytes = 0;
  };
  std::map<std::pair<std::int64_t, std::string_view>, Chunk> chunks;  // in the rows' order within each
  for (auto const& r : rows) {
    auto& c = chunks[{r.team_id, r.plugin}];
    c.lines.append(r.event_json).push_back('\n');
    ++c.count;
    c.bytes += static_cast<std::int64_t>(r.event_json.size());
  }
  store_.locked([&](SqliteDb& db) {
    db.transaction([&] {
      for (auto const& [key, c] : chunks)
        s_->append->bind(1, key.first).bind(2, key.second).bind(3, c.lines).bind(4, c.count).bind(5, c.bytes)
            .bind(6, now_ms).run();
    });
  });
}

std::vector<PendingExports> StoreExportQueue::pending() {
  std::vector<PendingExports> out;
  store_.locked([&](SqliteDb&) {
    auto& q = *s_->pending;
    while (q.step())
      out.push_back({q.integer(0), q.text(1), static_cast<std::uint64_t>(q.integer(2)),
                     static_cast<std::uint64_t>(q.integer(3)), q.integer(4)});
  });
  return out;
}

std::optional<ExportBatch> StoreExportQueue::cut_batch(std::int64_t team_id, const std::string& plugin,
                                                  std::uint64_t max_bytes, std::size_t max_events,
                                                  std::int64_t now_ms) {
  std::optional<ExportBatch> batch;
  store_.locked([&](SqliteDb& db) {
    db.transaction([&] {
      struct Chunk {
        std::int64_t id;
        std::string lines;
        std::size_t count;
        std::uint64_t bytes;
      };
      // Read only as far as the batch goes: the chunks that fit, and the one
      // the bounds fall inside (reading every pending chunk at each cut made
      // cutting quadratic in what is pending).
      std::vector<Chunk> chunks;
      {
        auto& q = *s_->take;
        // Chunks hold at least one event each: max_events of them always suffice.
        q.bind(1, team_id).bind(2, plugin).bind(3, static_cast<std::int64_t>(max_events));
        std::uint64_t seen_bytes = 0;
        std::size_t seen_events = 0;
        while (q.step()) {
          auto const count = static_cast<std::size_t>(q.integer(2));
          auto const chunk_bytes = static_cast<std::uint64_t>(q.integer(3));
          chunks.push_back({q.integer(0), q.text(1), count, chunk_bytes});
          seen_bytes += chunk_bytes;
          seen_events += count;
          if (seen_bytes > max_bytes || seen_events >= max_events) {
            q.done();
            break;
          }
        }
      }
      ExportBatch b;
      b.team_id = team_id;
      b.plugin = plugin;
      b.next_at_ms = now_ms;
      std::uint64_t bytes = 0;
      std::int64_t last_whole = 0;  // chunks up to this id are taken whole
      std::size_t whole_events = 0;
      for (auto& c : chunks) {
        bool const fits = bytes + c.bytes <= max_bytes && b.events.size() + c.count <= max_events;
        if (fits) {
          for (auto& line : split_lines(c.lines)) b.events.push_back(std::move(line));
          bytes += c.bytes;
          last_whole = c.id;
          whole_events = b.events.size();
          continue;
        }
        // The bounds fall inside this chunk: take its first events (at least
        // one event in the batch), leave the rest in place.
        auto lines = split_lines(c.lines);
        std::size_t taken = 0;
        std::uint64_t taken_bytes = 0;
        while (taken < lines.size() && b.events.size() < max_events &&
               (b.events.empty() || bytes + lines[taken].size() <= max_bytes)) {
          bytes += lines[taken].size();
          taken_bytes += lines[taken].size();
          b.events.push_back(std::move(lines[taken++]));
        }
        if (taken == lines.size()) {  // all of it after all (one event above the byte bound): whole
          last_whole = c.id;
          whole_events = b.events.size();
        } else if (taken > 0) {
          std::vector<std::string> rest(std::make_move_iterator(lines.begin() + static_cast<std::ptrdiff_t>(taken)),
                                        std::make_move_iterator(lines.end()));
          s_->keep_rest->bind(1, c.id).bind(2, join_lines(rest)).bind(3, static_cast<std::int64_t>(rest.size()))
              .bind(4, static_cast<std::int64_t>(c.bytes - taken_bytes)).run();
        }
        break;
      }
      if (b.events.empty()) return;
      // Whole chunks stay where they are, as the range (first, last_whole];
      // only the head of a split chunk is written with the batch.
      if (last_whole) s_->mark_cut->bind(1, team_id).bind(2, plugin).bind(3, last_whole).run();
      s_->insert_batch->bind(1, team_id)
          .bind(2, plugin)
          .bind(3, join_lines(std::vector<std::string>(b.events.begin() + static_cast<std::ptrdiff_t>(whole_events),
                                                       b.events.end())))
          .bind(4, static_cast<std::int64_t>(b.events.size()))
          .bind(5, now_ms)
          .bind(6, last_whole ? chunks.front().id : 0)
          .bind(7, last_whole)
          .run();
      b.id = db.last_insert_id();
      batch = std::move(b);
    });
  });
  return batch;
}

std::vector<ExportBatch> StoreExportQueue::due(std::int64_t now_ms, std::size_t limit) {
  std::vector<ExportBatch> out;
  store_.locked([&](SqliteDb&) {
    auto& q = *s_->due;
    q.bind(1, now_ms).bind(2, static_cast<std::int64_t>(limit));
    std::vector<std::pair<std::int64_t, std::int64_t>> ranges;
    while (q.step()) {
      ExportBatch b;
      b.id = q.integer(0);
      b.team_id = q.integer(1);
      b.plugin = q.text(2);
      b.events = split_lines(q.text(3));  // the head of a split chunk, or a version 2 batch
      b.attempt = static_cast<int>(q.integer(4));
      b.next_at_ms = q.integer(5);
      b.last_error = q.text(6);
      ranges.emplace_back(q.integer(7), q.integer(8));
      out.push_back(std::move(b));
    }
    for (std::size_t i = 0; i < out.size(); ++i) {
      auto const [first, last] = ranges[i];
      if (!last) continue;
      std::vector<std::string> events;  // the whole chunks come first: they are older than the head
      auto& c = s_->batch_chunks->bind(1, out[i].team_id).bind(2, out[i].plugin).bind(3, first).bind(4, last);
      while (c.step())
        for (auto& line : split_lines(c.text(0))) events.push_back(std::move(line));
      for (auto& line : out[i].events) events.push_back(std::move(line));
      out[i].events = std::move(events);
    }
  });
  return out;
}

void StoreExportQueue::delivered(std::int64_t batch_id, std::string_view) {
  store_.locked([&](SqliteDb& db) {
    db.transaction([&] {
      auto& r = s_->batch_range->bind(1, batch_id);
      if (!r.step()) return;
      auto const team_id = r.integer(0);
      auto const plugin = r.text(1);
      auto const first = r.integer(2), last = r.integer(3);
      r.done();
      if (last) s_->remove_chunks->bind(1, team_id).bind(2, plugin).bind(3, first).bind(4, last).run();
      s_->remove_batch->bind(1, batch_id).run();
    });
  });
}

void StoreExportQueue::retry_later(std::int64_t batch_id, int attempt, std::int64_t next_at_ms,
                                   const std::string& error, std::string_view) {
  store_.locked([&](SqliteDb&) { s_->retry->bind(1, batch_id).bind(2, attempt).bind(3, next_at_ms).bind(4, error).run(); });
}

void StoreExportQueue::dead_letter(std::int64_t batch_id, int attempt, const std::string& error, std::string_view) {
  store_.locked([&](SqliteDb&) { s_->dead->bind(1, batch_id).bind(2, attempt).bind(3, error).run(); });
}

std::vector<ExportBatch> StoreExportQueue::dead_letters(std::int64_t team_id, const std::string& plugin,
                                                   std::size_t limit) {
  std::vector<ExportBatch> out;
  store_.locked([&](SqliteDb&) {
    auto& q = *s_->dead_list;
    q.bind(1, team_id).bind(2, plugin).bind(3, static_cast<std::int64_t>(limit));
    while (q.step()) {
      ExportBatch b;
      b.id = q.integer(0);
      b.team_id = team_id;
      b.plugin = plugin;
      b.events.resize(static_cast<std::size_t>(q.integer(1)));  // the count; the events stay in the store
      b.attempt = static_cast<int>(q.integer(2));
      b.next_at_ms = q.integer(3);
      b.last_error = q.text(4);
      b.dead = true;
      out.push_back(std::move(b));
    }
  });
  return out;
}

bool StoreExportQueue::replay(std::int64_t batch_id, std::int64_t now_ms) {
  bool changed = false;
  store_.locked([&](SqliteDb& db) {
    s_->replay->bind(1, batch_id).bind(2, now_ms).run();
    changed = sqlite3_changes(db.handle) > 0;
  });
  return changed;
}

ExportCounts StoreExportQueue::counts(std::int64_t team_id, const std::string& plugin) {
  ExportCounts c;
  store_.locked([&](SqliteDb&) {
    auto& p = *s_->counts_pending;
    p.bind(1, team_id).bind(2, plugin);
    if (p.step()) {
      c.pending_events = static_cast<std::uint64_t>(p.integer(0));
      c.pending_bytes = static_cast<std::uint64_t>(p.integer(1));
      p.done();
    }
    auto& b = *s_->counts_batches;
    b.bind(1, team_id).bind(2, plugin);
    if (b.step()) {
      c.retrying_batches = static_cast<std::uint64_t>(b.integer(0));
      c.dead_batches = static_cast<std::uint64_t>(b.integer(1));
      b.done();
    }
  });
  return c;
}

ExportCounts StoreExportQueue::totals() {
  ExportCounts c;
  store_.locked([&](SqliteDb&) {
    auto& p = *s_->totals_pending;
    if (p.step()) {
      c.pending_events = static_cast<std::uint64_t>(p.integer(0));
      c.pending_bytes = static_cast<std::uint64_t>(p.integer(1));
      p.done();
    }
    auto& b = *s_->totals_batches;
    if (b.step()) {
      c.retrying_batches = static_cast<std::uint64_t>(b.integer(0));
      c.dead_batches = static_cast<std::uint64_t>(b.integer(1));
      b.done();
    }
  });
  return c;
}

}  // namespace posthog::server
