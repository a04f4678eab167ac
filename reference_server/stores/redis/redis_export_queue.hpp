// RedisExportQueue: the ExportQueue shared by every server of a cluster, so
// that a batch of a server that died is delivered by another.
//
// Pending events of a (team, plugin) are a list, <prefix>exports:pending:<team>/<plugin>,
// each element "<queued ms> <event JSON>"; their bytes are counted in a hash and
// the (team, plugin)s with pending events in a set. Cutting a batch is one
// script (take the oldest within the bounds, make the batch hash
// exports:batch:<id>, due now). Batches not dead are in exports:due by their
// next attempt; due() hands them to its caller by moving them `handover` ahead
// in that set, so no other server takes them meanwhile, and one whose server
// died is handed over again once that runs out (at least once, as with the
// embedded queue after a restart). Dead letters stay until replayed.
//
//   RedisExportQueue queue(pool, "posthog-plugin-server:", std::chrono::minutes(5));
#pragma once

#include <chrono>

#include "stores/export_queue.hpp"

namespace posthog::server {

class RedisPool;

class RedisExportQueue final : public ExportQueue {
 public:
  RedisExportQueue(RedisPool& pool, std::string prefix, std::chrono::milliseconds handover);

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
  std::string key(std::string_view what) const { return prefix_ + "exports:" + std::string(what); }

  RedisPool& pool_;
  std::string prefix_;
  std::chrono::milliseconds handover_;
};

}  // namespace posthog::server
