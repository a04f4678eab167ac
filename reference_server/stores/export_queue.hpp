// ExportQueue: the durable side of export_events, in the embedded store
// (StoreExportQueue) or, for a cluster, in Redis (RedisExportQueue).
//
// An event that passed a team's chain and reached the sink is appended once
// per (team, plugin) that exports. A worker's events of one (team, plugin) go
// in as one chunk (`export_chunks`: their JSON lines, count and bytes): one
// row per event made the store the ceiling of ingestion as soon as one team
// exported. The ExportRunner cuts the oldest pending events of a (team,
// plugin) into a batch when they are big or old enough (splitting a chunk
// when the bounds fall inside it), and hands the batch to the plugin. A batch lives in
// `export_batches` from the moment it is cut until the plugin took it: a
// RetryError keeps it there with its attempt count and when to try again; the
// last failed attempt makes it a dead letter, kept until replayed. Cutting is
// one transaction (the pending rows go, the batch appears), so a crash at any
// moment loses nothing; the batch being handed over when the process died is
// handed over again after the restart (at least once).
//
//   StoreExportQueue queue(store);
//   queue.append({{team, "webhook-export", event_json}}, now_ms);   // a worker, after the sink
//   if (auto batch = queue.cut_batch(team, "webhook-export", 1 << 20, 10'000, now_ms)) ...
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace posthog::server {


struct ExportRow {
  std::int64_t team_id = 0;
  std::string plugin;
  std::string event_json;
};

struct PendingExports {
  std::int64_t team_id = 0;
  std::string plugin;
  std::uint64_t events = 0;
  std::uint64_t bytes = 0;
  std::int64_t oldest_ms = 0;
};

struct ExportBatch {
  std::int64_t id = 0;
  std::int64_t team_id = 0;
  std::string plugin;
  std::vector<std::string> events;  // JSON text, oldest first
  int attempt = 0;                  // failed attempts so far
  std::int64_t next_at_ms = 0;
  std::string last_error;
  bool dead = false;
  std::string claim;  // a shared queue's token for this hand-over (empty in the embedded store)
};

struct ExportCounts {
  std::uint64_t pending_events = 0;
  std::uint64_t pending_bytes = 0;
  std::uint64_t retrying_batches = 0;  // waiting for their next attempt
  std::uint64_t dead_batches = 0;
};

class ExportQueue {
 public:
  virtual ~ExportQueue() = default;

  // All rows in one atomic step (throws the store's error).
  virtual void append(const std::vector<ExportRow>& rows, std::int64_t now_ms) = 0;
  virtual std::vector<PendingExports> pending() = 0;
  // Moves the oldest pending events of (team, plugin), up to max_bytes (at
  // least one event) and max_events, into a batch due now.
  virtual std::optional<ExportBatch> cut_batch(std::int64_t team_id, const std::string& plugin,
                                               std::uint64_t max_bytes, std::size_t max_events,
                                               std::int64_t now_ms) = 0;
  // Batches due (not dead, next attempt at or before now), oldest first,
  // handed to this caller: a shared queue hides them from the others until
  // they are settled, or until its hand-over timeout runs out.
  virtual std::vector<ExportBatch> due(std::int64_t now_ms, std::size_t limit) = 0;
  // `claim`: the token due() gave; a shared queue ignores a settle whose
  // hand-over ran out (the runner that took the batch since settles it).
  virtual void delivered(std::int64_t batch_id, std::string_view claim = {}) = 0;
  virtual void retry_later(std::int64_t batch_id, int attempt, std::int64_t next_at_ms, const std::string& error,
                           std::string_view claim = {}) = 0;
  virtual void dead_letter(std::int64_t batch_id, int attempt, const std::string& error,
                           std::string_view claim = {}) = 0;
  // Dead letters of (team, plugin), oldest first, without their events.
  virtual std::vector<ExportBatch> dead_letters(std::int64_t team_id, const std::string& plugin,
                                                std::size_t limit) = 0;
  // A dead letter due again, its attempts counted from zero. False: no such dead letter.
  virtual bool replay(std::int64_t batch_id, std::int64_t now_ms) = 0;
  virtual ExportCounts counts(std::int64_t team_id, const std::string& plugin) = 0;
  virtual ExportCounts totals() = 0;
};

}  // namespace posthog::server
