#include "store_job_queue.hpp"

#include "sqlite_db.hpp"

namespace posthog::server {

namespace {

constexpr const char* columns = "id, team_id, plugin, name, payload, run_at_ms, attempt, state, last_error, created_ms";

Job read_job(const Statement& s) {
  return {s.integer(0), s.integer(1), s.text(2), s.text(3), s.text(4), s.integer(5),
          static_cast<int>(s.integer(6)), s.text(7), s.text(8), s.integer(9)};
}

JobCounts read_counts(Statement& s) {
  JobCounts c;
  if (s.step()) {
    c.queued = static_cast<std::uint64_t>(s.integer(0));
    c.running = static_cast<std::uint64_t>(s.integer(1));
    c.failed = static_cast<std::uint64_t>(s.integer(2));
    c.next_run_at_ms = s.integer(3);
    s.done();
  }
  return c;
}

std::string with_columns(const char* before, const char* after) {
  return std::string(before) + columns + after;
}

// The jobs table, this file's alone.
constexpr const char* job_tables = R"sql(
CREATE TABLE IF NOT EXISTS jobs (
  id INTEGER PRIMARY KEY AUTOINCREMENT, team_id INTEGER NOT NULL, plugin TEXT NOT NULL, name TEXT NOT NULL,
  payload TEXT NOT NULL, run_at_ms INTEGER NOT NULL, attempt INTEGER NOT NULL DEFAULT 0,
  state TEXT NOT NULL DEFAULT 'queued', last_error TEXT NOT NULL DEFAULT '', created_ms INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS jobs_due ON jobs (state, run_at_ms, id);
CREATE INDEX IF NOT EXISTS jobs_by_plugin ON jobs (team_id, plugin, state);
)sql";

}  // namespace

struct StoreJobQueue::Statements {
  std::unique_ptr<Statement> insert, pending_one, claim, remove, retry, fail, replay, requeue, next_due, counts, totals,
      list;
};

StoreJobQueue::StoreJobQueue(DurableStore& store) : store_(store), s_(std::make_unique<Statements>()) {
  store_.locked([&](SqliteDb& db) {
    db.exec(job_tables);
    s_->insert = db.prepare(
        "INSERT INTO jobs (team_id, plugin, name, payload, run_at_ms, attempt, state, last_error, created_ms) "
        "VALUES (?1, ?2, ?3, ?4, ?5, 0, 'queued', '', ?6)");
    s_->pending_one = db.prepare(
        "SELECT 1 FROM jobs WHERE team_id = ?1 AND plugin = ?2 AND name = ?3 AND state IN ('queued', 'running') "
        "LIMIT 1");
    s_->claim = db.prepare(with_columns("UPDATE jobs SET state = 'running' WHERE id = (SELECT id FROM jobs "
                                        "WHERE state = 'queued' AND run_at_ms <= ?1 ORDER BY run_at_ms, id LIMIT 1) "
                                        "RETURNING ",
                                        "")
                               .c_str());
    s_->remove = db.prepare("DELETE FROM jobs WHERE id = ?1");
    s_->retry = db.prepare(
        "UPDATE jobs SET state = 'queued', attempt = ?2, run_at_ms = ?3, last_error = ?4 WHERE id = ?1");
    s_->fail = db.prepare("UPDATE jobs SET state = 'failed', attempt = ?2, last_error = ?3 WHERE id = ?1");
    s_->replay = db.prepare(
        "UPDATE jobs SET state = 'queued', attempt = 0, run_at_ms = ?2 WHERE id = ?1 AND state = 'failed'");
    s_->requeue = db.prepare("UPDATE jobs SET state = 'queued' WHERE state = 'running'");
    s_->next_due = db.prepare("SELECT coalesce(min(run_at_ms), -1) FROM jobs WHERE state = 'queued'");
    constexpr const char* tally =
        "SELECT coalesce(sum(state = 'queued'), 0), coalesce(sum(state = 'running'), 0), "
        "coalesce(sum(state = 'failed'), 0), coalesce(min(CASE WHEN state = 'queued' THEN run_at_ms END), 0) "
        "FROM jobs";
    s_->counts = db.prepare((std::string(tally) + " WHERE team_id = ?1 AND plugin = ?2").c_str());
    s_->totals = db.prepare(tally);
    s_->list = db.prepare(
        "SELECT id, team_id, plugin, name, substr(payload, 1, 4096), run_at_ms, attempt, state, last_error, "
        "created_ms FROM jobs WHERE team_id = ?1 AND plugin = ?2 AND state = ?3 ORDER BY run_at_ms, id LIMIT ?4");
  });
}

StoreJobQueue::~StoreJobQueue() {
  store_.locked([&](SqliteDb&) { s_.reset(); });
}

std::int64_t StoreJobQueue::enqueue(std::int64_t team_id, std::string_view plugin, std::string_view name,
                               std::string_view payload, std::int64_t run_at_ms, std::int64_t now_ms) {
  std::int64_t id = 0;
  store_.locked([&](SqliteDb& db) {
    s_->insert->bind(1, team_id).bind(2, plugin).bind(3, name).bind(4, payload)
        .bind(5, run_at_ms > 0 ? run_at_ms : now_ms).bind(6, now_ms).run();
    id = db.last_insert_id();
  });
  return id;
}

std::vector<std::pair<std::int64_t, std::string>> StoreJobQueue::enqueue_unless_pending(
    const std::vector<std::pair<std::int64_t, std::string>>& copies, std::string_view name, std::string_view payload,
    std::int64_t now_ms) {
  std::vector<std::pair<std::int64_t, std::string>> skipped;
  store_.locked([&](SqliteDb& db) {
    db.transaction([&] {
      skipped.clear();  // a rolled-back attempt leaves nothing behind
      for (auto const& [team_id, plugin] : copies) {
        if (s_->pending_one->bind(1, team_id).bind(2, plugin).bind(3, name).step()) {
          s_->pending_one->done();
          skipped.emplace_back(team_id, plugin);
          continue;
        }
        s_->insert->bind(1, team_id).bind(2, plugin).bind(3, name).bind(4, payload).bind(5, now_ms).bind(6, now_ms).run();
      }
    });
  });
  return skipped;
}

std::optional<Job> StoreJobQueue::claim(std::int64_t now_ms) {
  std::optional<Job> job;
  store_.locked([&](SqliteDb&) {
    if (s_->claim->bind(1, now_ms).step()) {
      job = read_job(*s_->claim);
      s_->claim->run();  // RETURNING: the statement completes on the next step
    }
  });
  return job;
}

void StoreJobQueue::done(std::int64_t id, std::string_view) {
  store_.locked([&](SqliteDb&) { s_->remove->bind(1, id).run(); });
}

void StoreJobQueue::retry_later(std::int64_t id, int attempt, std::int64_t run_at_ms, const std::string& error,
                                std::string_view) {
  store_.locked([&](SqliteDb&) { s_->retry->bind(1, id).bind(2, attempt).bind(3, run_at_ms).bind(4, error).run(); });
}

void StoreJobQueue::fail(std::int64_t id, int attempt, const std::string& error, std::string_view) {
  store_.locked([&](SqliteDb&) { s_->fail->bind(1, id).bind(2, attempt).bind(3, error).run(); });
}

bool StoreJobQueue::replay(std::int64_t id, std::int64_t now_ms) {
  bool replayed = false;
  store_.locked([&](SqliteDb& db) {
    s_->replay->bind(1, id).bind(2, now_ms).run();
    replayed = db.changes() == 1;
  });
  return replayed;
}

std::size_t StoreJobQueue::requeue_running() {
  std::size_t n = 0;
  store_.locked([&](SqliteDb& db) {
    s_->requeue->run();
    n = static_cast<std::size_t>(db.changes());
  });
  return n;
}

std::optional<std::int64_t> StoreJobQueue::next_due_ms() {
  std::optional<std::int64_t> next;
  store_.locked([&](SqliteDb&) {
    if (s_->next_due->step()) {
      if (auto const at = s_->next_due->integer(0); at >= 0) next = at;
      s_->next_due->done();
    }
  });
  return next;
}

JobCounts StoreJobQueue::counts(std::int64_t team_id, const std::string& plugin) {
  JobCounts c;
  store_.locked([&](SqliteDb&) { c = read_counts(s_->counts->bind(1, team_id).bind(2, plugin)); });
  return c;
}

JobCounts StoreJobQueue::totals() {
  JobCounts c;
  store_.locked([&](SqliteDb&) { c = read_counts(*s_->totals); });
  return c;
}

std::vector<Job> StoreJobQueue::list(std::int64_t team_id, const std::string& plugin, std::string_view state,
                                std::size_t limit) {
  std::vector<Job> out;
  store_.locked([&](SqliteDb&) {
    auto& s = s_->list->bind(1, team_id).bind(2, plugin).bind(3, state).bind(4, static_cast<std::int64_t>(limit));
    while (s.step()) out.push_back(read_job(s));
  });
  return out;
}

}  // namespace posthog::server
