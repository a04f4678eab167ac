// LogState: how far each partition of the embedded log has been handled, in a
// small file mapped into memory (`<log dir>/state`).
//
// Two commit positions per partition, because a process crash and a machine
// crash lose different things:
//   - `committed`, stored after every batch: past the last record whose events
//     the sink has. A store into a shared mapping is in the page cache at
//     once, so it survives the process being killed, at the cost of a memory
//     write (no system call per batch).
//   - `durable`, written with msync only after the sink itself was synced:
//     what survives the machine crashing, when unsynced pages are lost in any
//     order (the state file's page could reach the disk before the sink's).
// At start, the log uses `committed` when the machine has not restarted since
// (same boot id, so the page cache survived) and `durable` when it has.
//
// `sinking` marks the end of the batch being handed to the sink: records
// between it and `committed` after a crash were maybe written once already,
// and are counted as possible duplicates when they are delivered again.
//
// The words are std::atomic in the mapping, so that (issue #22) worker
// processes mapping the same file can store their partitions' commits.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <string>

namespace posthog::server {

struct alignas(64) PartitionState {
  std::atomic<std::uint64_t> committed;
  std::atomic<std::uint64_t> sinking;
  std::atomic<std::uint64_t> durable;
};

class LogState {
 public:
  // Opens or creates the file for `partitions`. Throws std::runtime_error
  // naming the file when it cannot, or when it is not a state file. One made
  // for another number of partitions is opened as it is (see
  // stored_partitions()): the log decides.
  LogState(const std::filesystem::path& file, std::size_t partitions);
  ~LogState();
  LogState(const LogState&) = delete;
  LogState& operator=(const LogState&) = delete;

  std::size_t partitions() const noexcept { return partitions_; }
  // The partitions the file was made for (0: new); differs from partitions()
  // only until reset().
  std::size_t stored_partitions() const noexcept { return stored_partitions_; }
  // True when the file was written since this machine last booted.
  bool same_boot() const noexcept { return same_boot_; }
  PartitionState& partition(std::size_t p) noexcept { return slots_[p]; }

  // A new layout: every position at `offset`, this boot's id.
  void reset(std::uint64_t offset);
  // This boot's id, from now on.
  void claim_boot();
  // The whole file to disk (after `durable` was written).
  void sync();

 private:
  std::filesystem::path file_;
  int fd_ = -1;
  void* map_ = nullptr;
  std::size_t map_bytes_ = 0;
  std::size_t partitions_ = 0, stored_partitions_ = 0;
  bool same_boot_ = false;
  PartitionState* slots_ = nullptr;
};

// This machine's boot id (/proc/sys/kernel/random/boot_id), empty if unknown.
std::string current_boot_id();

}  // namespace posthog::server
