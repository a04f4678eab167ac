#include "export_queue.hpp"

#include "../stores/sqlite_db.hpp"

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

}  // namespace

struct ExportQueue::Statements {
  std::unique_ptr<Statement> append, pending, take, remove_pending, insert_batch, due, remove_batch, retry, dead,
      dead_list, replay, counts_pending, counts_batches, totals_pending, totals_batches;
};

ExportQueue::ExportQueue(DurableStore& store) : store_(store), s_(std::make_unique<Statements>()) {
  store_.locked([&](SqliteDb& db) {
    s_->append = db.prepare("INSERT INTO export_pending (team_id, plugin, event, at_ms) VALUES (?1, ?2, ?3, ?4)");
    s_->pending = db.prepare(
        "SELECT team_id, plugin, count(*), sum(length(CAST(event AS BLOB))), min(at_ms) FROM export_pending "
        "GROUP BY team_id, plugin ORDER BY team_id, plugin");
    s_->take = db.prepare(
        "SELECT id, event FROM export_pending WHERE team_id = ?1 AND plugin = ?2 ORDER BY id LIMIT ?3");
    s_->remove_pending = db.prepare("DELETE FROM export_pending WHERE team_id = ?1 AND plugin = ?2 AND id <= ?3");
    s_->insert_batch = db.prepare(
        "INSERT INTO export_batches (team_id, plugin, events, count, attempt, next_at_ms, last_error, dead) "
        "VALUES (?1, ?2, ?3, ?4, 0, ?5, '', 0)");
    s_->due = db.prepare(
        "SELECT id, team_id, plugin, events, attempt, next_at_ms, last_error FROM export_batches "
        "WHERE dead = 0 AND next_at_ms <= ?1 ORDER BY next_at_ms, id LIMIT ?2");
    s_->remove_batch = db.prepare("DELETE FROM export_batches WHERE id = ?1");
    s_->retry = db.prepare("UPDATE export_batches SET attempt = ?2, next_at_ms = ?3, last_error = ?4 WHERE id = ?1");
    s_->dead = db.prepare("UPDATE export_batches SET attempt = ?2, last_error = ?3, dead = 1 WHERE id = ?1");
    s_->dead_list = db.prepare(
        "SELECT id, count, attempt, next_at_ms, last_error FROM export_batches "
        "WHERE dead = 1 AND team_id = ?1 AND plugin = ?2 ORDER BY id LIMIT ?3");
    s_->replay = db.prepare(
        "UPDATE export_batches SET dead = 0, attempt = 0, next_at_ms = ?2 WHERE id = ?1 AND dead = 1");
    s_->counts_pending = db.prepare(
        "SELECT count(*), coalesce(sum(length(CAST(event AS BLOB))), 0) FROM export_pending WHERE team_id = ?1 AND plugin = ?2");
    s_->counts_batches = db.prepare(
        "SELECT coalesce(sum(dead = 0), 0), coalesce(sum(dead = 1), 0) FROM export_batches "
        "WHERE team_id = ?1 AND plugin = ?2");
    s_->totals_pending = db.prepare("SELECT count(*), coalesce(sum(length(CAST(event AS BLOB))), 0) FROM export_pending");
    s_->totals_batches =
        db.prepare("SELECT coalesce(sum(dead = 0), 0), coalesce(sum(dead = 1), 0) FROM export_batches");
  });
}

ExportQueue::~ExportQueue() {
  // The statements go under the store's lock, before the store closes.
  store_.locked([&](SqliteDb&) { s_.reset(); });
}

void ExportQueue::append(const std::vector<ExportRow>& rows, std::int64_t now_ms) {
  if (rows.empty()) return;
  store_.locked([&](SqliteDb& db) {
    db.transaction([&] {
      for (auto const& r : rows) s_->append->bind(1, r.team_id).bind(2, r.plugin).bind(3, r.event_json).bind(4, now_ms).run();
    });
  });
}

std::vector<PendingExports> ExportQueue::pending() {
  std::vector<PendingExports> out;
  store_.locked([&](SqliteDb&) {
    auto& q = *s_->pending;
    while (q.step())
      out.push_back({q.integer(0), q.text(1), static_cast<std::uint64_t>(q.integer(2)),
                     static_cast<std::uint64_t>(q.integer(3)), q.integer(4)});
  });
  return out;
}

std::optional<ExportBatch> ExportQueue::cut_batch(std::int64_t team_id, const std::string& plugin,
                                                  std::uint64_t max_bytes, std::size_t max_events,
                                                  std::int64_t now_ms) {
  std::optional<ExportBatch> batch;
  store_.locked([&](SqliteDb& db) {
    db.transaction([&] {
      ExportBatch b;
      b.team_id = team_id;
      b.plugin = plugin;
      b.next_at_ms = now_ms;
      std::uint64_t bytes = 0;
      std::int64_t last_id = 0;
      auto& q = *s_->take;
      q.bind(1, team_id).bind(2, plugin).bind(3, static_cast<std::int64_t>(max_events));
      while (q.step()) {
        auto event = q.text(1);
        if (!b.events.empty() && bytes + event.size() > max_bytes) {
          q.done();
          break;
        }
        bytes += event.size();
        last_id = q.integer(0);
        b.events.push_back(std::move(event));
      }
      if (b.events.empty()) return;
      s_->remove_pending->bind(1, team_id).bind(2, plugin).bind(3, last_id).run();
      s_->insert_batch->bind(1, team_id)
          .bind(2, plugin)
          .bind(3, join_lines(b.events))
          .bind(4, static_cast<std::int64_t>(b.events.size()))
          .bind(5, now_ms)
          .run();
      b.id = db.last_insert_id();
      batch = std::move(b);
    });
  });
  return batch;
}

std::vector<ExportBatch> ExportQueue::due(std::int64_t now_ms, std::size_t limit) {
  std::vector<ExportBatch> out;
  store_.locked([&](SqliteDb&) {
    auto& q = *s_->due;
    q.bind(1, now_ms).bind(2, static_cast<std::int64_t>(limit));
    while (q.step()) {
      ExportBatch b;
      b.id = q.integer(0);
      b.team_id = q.integer(1);
      b.plugin = q.text(2);
      b.events = split_lines(q.text(3));
      b.attempt = static_cast<int>(q.integer(4));
      b.next_at_ms = q.integer(5);
      b.last_error = q.text(6);
      out.push_back(std::move(b));
    }
  });
  return out;
}

void ExportQueue::delivered(std::int64_t batch_id) {
  store_.locked([&](SqliteDb&) { s_->remove_batch->bind(1, batch_id).run(); });
}

void ExportQueue::retry_later(std::int64_t batch_id, int attempt, std::int64_t next_at_ms, const std::string& error) {
  store_.locked([&](SqliteDb&) { s_->retry->bind(1, batch_id).bind(2, attempt).bind(3, next_at_ms).bind(4, error).run(); });
}

void ExportQueue::dead_letter(std::int64_t batch_id, int attempt, const std::string& error) {
  store_.locked([&](SqliteDb&) { s_->dead->bind(1, batch_id).bind(2, attempt).bind(3, error).run(); });
}

std::vector<ExportBatch> ExportQueue::dead_letters(std::int64_t team_id, const std::string& plugin,
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

bool ExportQueue::replay(std::int64_t batch_id, std::int64_t now_ms) {
  bool changed = false;
  store_.locked([&](SqliteDb& db) {
    s_->replay->bind(1, batch_id).bind(2, now_ms).run();
    changed = sqlite3_changes(db.handle) > 0;
  });
  return changed;
}

ExportCounts ExportQueue::counts(std::int64_t team_id, const std::string& plugin) {
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

ExportCounts ExportQueue::totals() {
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
