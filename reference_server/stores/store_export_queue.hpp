// StoreExportQueue: the ExportQueue of one server, in the embedded store's
// `export_chunks` and `export_batches` tables (see export_queue.hpp for the
// life of an event there). A batch being handed over when the process died is
// handed over again after the restart.
#pragma once

#include <memory>

#include "export_queue.hpp"

namespace posthog::server {

class DurableStore;

class StoreExportQueue final : public ExportQueue {
 public:
  explicit StoreExportQueue(DurableStore& store);
  ~StoreExportQueue() override;
  StoreExportQueue(const StoreExportQueue&) = delete;
  StoreExportQueue& operator=(const StoreExportQueue&) = delete;

  // One transaction for all rows, one chunk per (team, plugin) (throws StoreError).
  void append(const std::vector<ExportRow>& rows, std::int64_t now_ms) override;
  std::vector<PendingExports> pending() override;
  std::optional<ExportBatch> cut_batch(std::int64_t team_id, const std::string& plugin, std::uint64_t max_bytes,
                                       std::size_t max_events, std::int64_t now_ms) override;
  std::vector<ExportBatch> due(std::int64_t now_ms, std::size_t limit) override;
  void delivered(std::int64_t batch_id, std::string_view claim = {}) override;
  void retry_later(std::int64_t batch_id, int attempt, std::int64_t next_at_ms, const std::string& error,
                   std::string_view claim = {}) override;
  void dead_letter(std::int64_t batch_id, int attempt, const std::string& error, std::string_view claim = {}) override;
  std::vector<ExportBatch> dead_letters(std::int64_t team_id, const std::string& plugin, std::size_t limit) override;
  bool replay(std::int64_t batch_id, std::int64_t now_ms) override;
  ExportCounts counts(std::int64_t team_id, const std::string& plugin) override;
  ExportCounts totals() override;

 private:
  struct Statements;
  DurableStore& store_;
  std::unique_ptr<Statements> s_;
};

}  // namespace posthog::server
