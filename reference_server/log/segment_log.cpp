#include "segment_log.hpp"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstdio>
#include <cstring>
#include <future>
#include <stdexcept>

#include "crc32c.hpp"
#include "log_record.hpp"

namespace posthog::server {
namespace {

constexpr std::size_t frame_bytes = 12;

struct Frame {
  std::uint32_t size;
  std::uint32_t crc;
  std::uint16_t partition;
  std::uint16_t zero;
};
static_assert(sizeof(Frame) == frame_bytes);

// The checksum covers the partition and the payload.
std::uint32_t frame_crc(std::uint16_t partition, std::string_view payload) noexcept {
  char tail[4] = {};
  std::memcpy(tail, &partition, sizeof partition);
  return crc32c(payload, crc32c(std::string_view(tail, sizeof tail)));
}

std::string errno_text() { return std::strerror(errno); }

std::string segment_name(std::uint64_t base) {
  char name[32];
  std::snprintf(name, sizeof name, "%020llu.log", static_cast<unsigned long long>(base));
  return name;
}

void sync_directory(const std::filesystem::path& dir) {
  int const fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return;
  ::fsync(fd);  // a failure here shows again, with its reason, on the next data sync
  ::close(fd);
}

// Calls `record(offset in the segment, partition, payload)` for each whole
// record with the right checksum, in order; returns where the first thing
// that is not one begins (the segment's end when all are).
template <class Record>
std::uint64_t walk_records(std::string_view bytes, std::size_t partitions, std::uint32_t max_size, Record record) {
  std::uint64_t at = 0;
  while (at + frame_bytes <= bytes.size()) {
    Frame f;
    std::memcpy(&f, bytes.data() + at, frame_bytes);
    if (f.size > max_size || at + frame_bytes + f.size > bytes.size() || f.zero != 0 || f.partition >= partitions)
      break;
    auto const payload = bytes.substr(at + frame_bytes, f.size);
    if (frame_crc(f.partition, payload) != f.crc || !record(at, f.partition, payload)) break;
    at += frame_bytes + f.size;
  }
  return at;
}

// A segment's bytes, mapped for one pass.
class MappedSegment {
 public:
  MappedSegment(int fd, const std::filesystem::path& path) {
    struct stat st {};
    if (::fstat(fd, &st) != 0)
      throw std::runtime_error(path.string() + ": cannot read an event log segment: " + errno_text());
    size_ = static_cast<std::size_t>(st.st_size);
    if (size_ == 0) return;
    map_ = ::mmap(nullptr, size_, PROT_READ, MAP_PRIVATE, fd, 0);
    if (map_ == MAP_FAILED)
      throw std::runtime_error(path.string() + ": cannot map an event log segment: " + errno_text());
  }
  ~MappedSegment() {
    if (map_ && map_ != MAP_FAILED) ::munmap(map_, size_);
  }
  std::string_view bytes() const noexcept { return map_ ? std::string_view(static_cast<const char*>(map_), size_) : ""; }

 private:
  void* map_ = nullptr;
  std::size_t size_ = 0;
};

}  // namespace

struct SegmentLog::Segment {
  std::uint64_t base = 0;
  std::uint64_t size = 0;
  int fd = -1;
  std::filesystem::path path;
  ~Segment() {
    if (fd >= 0) ::close(fd);
  }
};

FsyncPolicy parse_fsync_policy(std::string_view name) {
  if (name == "batch") return FsyncPolicy::batch;
  if (name == "interval") return FsyncPolicy::interval;
  if (name == "never") return FsyncPolicy::never;
  throw std::invalid_argument("must be batch, interval or never, not '" + std::string(name) + "'");
}

const char* to_string(FsyncPolicy policy) noexcept {
  switch (policy) {
    case FsyncPolicy::batch: return "batch";
    case FsyncPolicy::interval: return "interval";
    case FsyncPolicy::never: return "never";
  }
  return "?";
}

SegmentLog::SegmentLog(SegmentLogOptions options, std::function<void()> sync_sink)
    : options_(std::move(options)), sync_sink_(std::move(sync_sink)), index_(options_.partitions) {
  if (options_.partitions == 0 || options_.partitions > 65535)
    throw std::invalid_argument("the event log needs 1 to 65535 partitions");
  options_.segment_bytes = std::max<std::uint64_t>(4096, std::min(options_.segment_bytes, options_.max_bytes / 8));
  recover();
  // A sync thread for batch and interval; never leaves it to the kernel.
  if (options_.fsync != FsyncPolicy::never) syncer_ = std::thread([this] { sync_loop(); });
}

SegmentLog::~SegmentLog() {
  if (!finished_) {
    stop(std::chrono::milliseconds(0), nullptr);
    finish(std::chrono::milliseconds(0));
  }
}

// ---- start ---------------------------------------------------------------

void SegmentLog::recover() {
  std::error_code ec;
  std::filesystem::create_directories(options_.dir, ec);
  if (ec) throw std::runtime_error(options_.dir.string() + ": cannot create the event log's folder: " + ec.message());
  state_ = std::make_unique<LogState>(options_.dir / "state", options_.partitions);
  bool const fresh_state = state_->stored_partitions() == 0;
  bool const other_layout = !fresh_state && state_->stored_partitions() != options_.partitions;

  // The segments, oldest first.
  for (auto const& entry : std::filesystem::directory_iterator(options_.dir)) {
    auto const name = entry.path().filename().string();
    if (name.size() != 24 || name.substr(20) != ".log") continue;
    std::uint64_t base = 0;
    auto const r = std::from_chars(name.data(), name.data() + 20, base);
    if (r.ec != std::errc() || r.ptr != name.data() + 20) continue;
    auto s = std::make_shared<Segment>();
    s->base = base;
    s->path = entry.path();
    s->fd = ::open(s->path.c_str(), O_RDWR | O_CLOEXEC);
    if (s->fd < 0) throw std::runtime_error(s->path.string() + ": cannot open an event log segment: " + errno_text());
    segments_.push_back(std::move(s));
  }
  std::sort(segments_.begin(), segments_.end(), [](auto const& a, auto const& b) { return a->base < b->base; });

  std::uint64_t end = 0;
  for (auto& s : segments_) {
    struct stat st {};
    if (::fstat(s->fd, &st) == 0) end = std::max<std::uint64_t>(end, s->base + static_cast<std::uint64_t>(st.st_size));
  }
  if (other_layout) {
    // A different partition count orders people differently: refused while
    // the old layout still has events in the log; otherwise started afresh.
    std::size_t const old = state_->stored_partitions();
    std::vector<std::uint64_t> old_commits(old);
    {
      LogState previous(options_.dir / "state", old);
      for (std::size_t p = 0; p < old; ++p)
        old_commits[p] = previous.same_boot() ? previous.partition(p).committed.load()
                                              : previous.partition(p).durable.load();
    }
    bool pending = false;
    for (auto const& s : segments_) {
      MappedSegment const map(s->fd, s->path);
      walk_records(map.bytes(), old, max_record_bytes, [&](std::uint64_t at, std::uint16_t p, std::string_view) {
        pending = pending || s->base + at >= old_commits[p];
        return !pending;
      });
    }
    if (pending)
      throw std::runtime_error(options_.dir.string() + ": the event log holds events of " +
                               std::to_string(state_->stored_partitions()) + " partitions and serve.log.partitions is " +
                               std::to_string(options_.partitions) +
                               ": start with the old count until it has drained, then change it");
    for (auto const& s : segments_) std::filesystem::remove(s->path);
    segments_.clear();
  }

  // Where each partition was, by the machine's fate since: the page cache
  // survived a process crash, not a machine crash.
  std::vector<std::uint64_t> from(options_.partitions, 0), sinking(options_.partitions, 0);
  if (!fresh_state && !other_layout) {
    for (std::size_t p = 0; p < options_.partitions; ++p) {
      auto const& slot = state_->partition(p);
      from[p] = state_->same_boot() ? slot.committed.load() : slot.durable.load();
      sinking[p] = state_->same_boot() ? slot.sinking.load() : from[p];
    }
  }
  for (auto& s : segments_) {
    s->size = scan_segment(*s, from);
    written_end_ = s->base + s->size;
    bytes_ += s->size;
  }
  // Record offsets never go back, even with every segment gone: a new one
  // starts past every position the state file knows.
  if (segments_.empty()) {
    std::uint64_t base = end;
    for (std::size_t p = 0; p < state_->partitions() && !fresh_state; ++p)
      base = std::max({base, state_->partition(p).committed.load(), state_->partition(p).durable.load(),
                       state_->partition(p).sinking.load()});
    open_new_segment(base);
  }
  for (std::size_t p = 0; p < options_.partitions; ++p) {
    for (auto const& r : index_[p].pending)
      if (r.offset < sinking[p]) redelivered_events_ += r.events;
  }
  if (other_layout || fresh_state) {
    state_->reset(written_end_);
  } else {
    for (std::size_t p = 0; p < options_.partitions; ++p) {
      auto& slot = state_->partition(p);
      slot.committed.store(from[p]);
      slot.sinking.store(from[p]);
      slot.durable.store(std::min(slot.durable.load(), from[p]));
    }
    state_->claim_boot();
    state_->sync();
  }
  // What was read back is made durable before anything new is acknowledged:
  // after a process crash it may still be only in the page cache.
  for (auto& s : segments_)
    if (::fdatasync(s->fd) != 0)
      throw std::runtime_error(s->path.string() + ": cannot sync an event log segment: " + errno_text());
  durable_end_ = written_end_;
  std::uint64_t low = written_end_;
  for (auto const& part : index_)
    if (!part.pending.empty()) low = std::min(low, part.pending.front().offset);
  durable_low_water_ = low;
}

// Indexes the segment's whole records; cuts whatever follows the last one.
std::uint64_t SegmentLog::scan_segment(Segment& segment, const std::vector<std::uint64_t>& committed) {
  MappedSegment const map(segment.fd, segment.path);
  auto const bytes = map.bytes();
  auto const end = walk_records(bytes, options_.partitions, max_record_bytes,
                                [&](std::uint64_t at, std::uint16_t partition, std::string_view payload) {
                                  std::uint32_t events = 0;
                                  try {
                                    events = LogRecordView(payload).event_count();
                                  } catch (const LogRecordError&) {
                                    return false;  // a checksum that matches bytes that are not a record: not ours
                                  }
                                  std::uint64_t const offset = segment.base + at;
                                  if (offset >= committed[partition]) {
                                    index_[partition].pending.push_back(
                                        {offset, static_cast<std::uint32_t>(payload.size()), events, {}});
                                    pending_events_ += events;
                                    undelivered_events_ += events;
                                  }
                                  return true;
                                });
  if (end < bytes.size()) {
    // A write torn by a crash, or bytes damaged on disk: not a record, so not
    // acknowledged as one. Cut off (the rest of this segment only, when it is
    // not the last: the next one starts at a record).
    torn_bytes_ += bytes.size() - end;
    if (::ftruncate(segment.fd, static_cast<off_t>(end)) != 0)
      throw std::runtime_error(segment.path.string() + ": cannot cut a torn record off an event log segment: " +
                               errno_text());
  }
  return end;
}

void SegmentLog::open_new_segment(std::uint64_t base) {
  auto s = std::make_shared<Segment>();
  s->base = base;
  s->path = options_.dir / segment_name(base);
  s->fd = ::open(s->path.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (s->fd < 0) throw LogUnavailable(s->path.string() + ": cannot create an event log segment: " + errno_text());
  sync_directory(options_.dir);  // the file itself must survive a machine crash, not only its bytes
  segments_.push_back(std::move(s));
  written_end_ = base;
}

// ---- writing -------------------------------------------------------------

void SegmentLog::append(std::span<LogAppend> records, Durable durable) {
  if (records.empty()) return durable({});
  std::vector<Frame> frames(records.size());
  std::vector<iovec> pieces;
  pieces.reserve(records.size() * 2);
  std::uint64_t total = 0;
  std::uint32_t events = 0;
  for (std::size_t i = 0; i < records.size(); ++i) {
    auto const& r = records[i];
    if (r.payload.size() > max_record_bytes || r.partition >= options_.partitions)
      throw std::invalid_argument("event log: a record over " + std::to_string(max_record_bytes) +
                                  " bytes, or of a partition that does not exist");
    auto const partition = static_cast<std::uint16_t>(r.partition);
    frames[i] = {static_cast<std::uint32_t>(r.payload.size()), frame_crc(partition, r.payload), partition, 0};
    pieces.push_back({&frames[i], frame_bytes});
    pieces.push_back({const_cast<char*>(r.payload.data()), r.payload.size()});
    total += frame_bytes + r.payload.size();
    events += r.events;
  }
  std::uint64_t end = 0;
  bool wake_reader = false;
  {
    std::lock_guard lock(mutex_);
    {
      std::lock_guard sync_lock(sync_mutex_);
      if (!sync_failure_.empty()) {
        ++refused_unavailable_;
        throw LogUnavailable(sync_failure_);
      }
    }
    if (bytes_ + total > options_.max_bytes) {
      // Full until a checkpoint frees segments: requests are refused before
      // their bodies are read meanwhile (refusing()).
      ++refused_full_;
      refusing_ = true;
      throw LogFull("the event log is full (" + std::to_string(bytes_) + " of " + std::to_string(options_.max_bytes) +
                    " bytes, serve.log.max_bytes): its events are not yet through the pipeline");
    }
    if (segments_.back()->size > 0 && segments_.back()->size + total > options_.segment_bytes) {
      {
        std::lock_guard sync_lock(sync_mutex_);
        unsynced_.push_back(segments_.back());
      }
      try {
        open_new_segment(written_end_);
      } catch (const LogUnavailable& e) {
        ++refused_unavailable_;
        problem_ = e.what();
        throw;
      }
    }
    auto& segment = *segments_.back();
    std::uint64_t written = 0;
    std::size_t piece = 0;
    while (piece < pieces.size()) {
      int const count = static_cast<int>(std::min<std::size_t>(pieces.size() - piece, IOV_MAX));
      ssize_t const n = ::pwritev(segment.fd, pieces.data() + piece, count, static_cast<off_t>(segment.size + written));
      if (n <= 0) {
        std::string const why = n < 0 ? errno_text() : "nothing written";
        // Nothing half-written may stay: a reader or a restart would meet it.
        [[maybe_unused]] int const cut = ::ftruncate(segment.fd, static_cast<off_t>(segment.size));
        ++refused_unavailable_;
        problem_ = segment.path.string() + ": cannot write to the event log: " + why;
        throw LogUnavailable(problem_);
      }
      written += static_cast<std::uint64_t>(n);
      // Skip the pieces written whole; shorten the one written in part.
      auto left = static_cast<std::size_t>(n);
      while (piece < pieces.size() && left >= pieces[piece].iov_len) left -= pieces[piece++].iov_len;
      if (left) {
        pieces[piece].iov_base = static_cast<char*>(pieces[piece].iov_base) + left;
        pieces[piece].iov_len -= left;
      }
    }
    std::uint64_t offset = written_end_;
    for (std::size_t i = 0; i < records.size(); ++i) {
      std::string cached;
      if (cached_bytes_ + frames[i].size <= tail_cache_bytes) {
        cached_bytes_ += frames[i].size;
        cached = std::move(records[i].payload);
      }
      index_[records[i].partition].pending.push_back({offset, frames[i].size, records[i].events, std::move(cached)});
      offset += frame_bytes + frames[i].size;
    }
    segment.size += total;
    written_end_ += total;
    bytes_ += total;
    pending_events_ += events;
    undelivered_events_ += events;
    appended_records_ += records.size();
    appended_events_ += events;
    problem_.clear();
    end = written_end_;
    wake_reader = reader_wait_ == ReaderWait::idle ||
                  (reader_wait_ == ReaderWait::lingering && undelivered_events_ >= options_.batch_events);
  }
  if (wake_reader) readable_.notify_all();
  if (options_.fsync != FsyncPolicy::batch) return durable({});  // in the page cache: a process crash loses nothing
  {
    std::lock_guard sync_lock(sync_mutex_);
    if (durable_end_ < end) {
      waiters_.push_back({end, std::move(durable)});
      sync_wanted_.notify_one();
      return;
    }
  }
  durable({});
}

// Group commit: syncs everything written so far whenever an append waits
// for it (batch) or once an interval (interval), then answers every append the
// sync covered. Appends that arrive during a sync share the next one.
void SegmentLog::sync_loop() {
  std::unique_lock lock(sync_mutex_);
  for (;;) {
    if (options_.fsync == FsyncPolicy::interval)
      sync_wanted_.wait_for(lock, options_.fsync_interval, [&] { return stop_syncing_ || !waiters_.empty(); });
    else
      sync_wanted_.wait(lock, [&] { return stop_syncing_ || !waiters_.empty(); });
    if (stop_syncing_ && waiters_.empty()) return;
    lock.unlock();
    std::uint64_t target = 0;
    std::vector<std::shared_ptr<Segment>> segments;
    {
      std::lock_guard data_lock(mutex_);
      target = written_end_;
      segments.push_back(segments_.back());
    }
    lock.lock();
    segments.insert(segments.end(), unsynced_.begin(), unsynced_.end());
    bool const needed = durable_end_ < target && sync_failure_.empty();
    lock.unlock();
    std::string failed;
    if (needed) {
      for (auto const& s : segments)
        if (::fdatasync(s->fd) != 0 && failed.empty())
          failed = s->path.string() + ": cannot sync the event log: " + errno_text();
      fsyncs_.fetch_add(1, std::memory_order_relaxed);
    }
    lock.lock();
    if (!needed && !sync_failure_.empty()) failed = sync_failure_;
    if (failed.empty()) {
      durable_end_ = std::max(durable_end_, target);
      std::erase_if(unsynced_, [&](auto const& s) { return s->base + s->size <= target; });
    } else if (sync_failure_.empty()) {
      // The kernel may have dropped the pages it could not write: a later
      // sync would prove nothing. Nothing is acknowledged until a restart.
      sync_failure_ = failed + " (nothing is acknowledged until a restart checks the log)";
      refusing_ = true;
    }
    std::vector<Waiter> answered;
    while (!waiters_.empty() && (!failed.empty() || waiters_.front().end <= durable_end_)) {
      answered.push_back(std::move(waiters_.front()));
      waiters_.pop_front();
    }
    auto const failure = failed.empty() ? std::string() : sync_failure_;
    lock.unlock();
    if (!failure.empty()) {
      std::lock_guard data_lock(mutex_);
      refused_unavailable_ += answered.size();
    }
    for (auto& w : answered) w.done(failure);
    lock.lock();
  }
}

void SegmentLog::sync_written() {
  std::uint64_t end = 0;
  {
    std::lock_guard lock(mutex_);
    end = written_end_;
  }
  std::promise<std::string> synced;
  auto outcome = synced.get_future();
  {
    std::lock_guard sync_lock(sync_mutex_);
    if (durable_end_ >= end || !syncer_.joinable()) return;
    waiters_.push_back({end, [&synced](std::string_view failure) { synced.set_value(std::string(failure)); }});
    sync_wanted_.notify_one();
  }
  if (auto const failure = outcome.get(); !failure.empty()) throw LogUnavailable(failure);
}

// ---- reading -------------------------------------------------------------

void SegmentLog::start(Deliver deliver, std::function<bool()> has_room) {
  deliver_ = std::move(deliver);
  has_room_ = std::move(has_room);
  reader_ = std::thread([this] { read_loop(); });
  checkpoints_.start(
      [this] {
        checkpoint();
        return options_.checkpoint_interval;
      },
      [this](const std::exception& e) {
        std::lock_guard lock(mutex_);
        checkpoint_problem_ = std::string("commits cannot be made durable (") + e.what() +
                              "): segments are kept until they can";
      });
}

void SegmentLog::wake() {
  { std::lock_guard lock(mutex_); }  // a reader about to wait sees the room, or gets the signal
  readable_.notify_all();
}

bool SegmentLog::take_batch(LogBatch& batch, std::vector<Taken>& taken) {
  for (std::size_t i = 0; i < index_.size(); ++i) {
    std::size_t const p = (next_partition_ + i) % index_.size();
    auto& part = index_[p];
    if (part.delivered == part.pending.size()) continue;
    batch.partition = p;
    batch.epoch = epoch_;
    std::size_t bytes = 0;
    while (part.delivered < part.pending.size()) {
      auto& r = part.pending[part.delivered];
      if (batch.events && (batch.events + r.events > options_.batch_events || bytes + r.size > options_.batch_bytes))
        break;
      if (!r.cached.empty()) cached_bytes_ -= r.size;
      taken.push_back({r.offset, std::move(r.cached)});
      r.cached = std::string();
      undelivered_events_ -= r.events;
      batch.events += r.events;
      bytes += r.size;
      batch.end = r.offset + frame_bytes + r.size;
      ++part.delivered;
    }
    batch.bytes.reserve(bytes);
    next_partition_ = p + 1;
    return true;
  }
  return false;
}

std::shared_ptr<SegmentLog::Segment> SegmentLog::segment_of(std::uint64_t offset) const {
  auto it = std::upper_bound(segments_.begin(), segments_.end(), offset,
                             [](std::uint64_t o, auto const& s) { return o < s->base; });
  return it == segments_.begin() ? nullptr : *(it - 1);
}

void SegmentLog::read_loop() {
  for (;;) {
    LogBatch batch;
    std::vector<Taken> taken;
    std::vector<std::shared_ptr<Segment>> segments;
    {
      std::unique_lock lock(mutex_);
      auto undelivered = [&] {
        for (auto const& part : index_)
          if (part.delivered < part.pending.size()) return true;
        return false;
      };
      // has_room() also says yes when nothing is in flight, so a record larger
      // than the pipeline's bound still goes.
      readable_.wait(lock, [&] {
        if (stopping_) return true;
        bool const data = undelivered();
        reader_wait_ = !data ? ReaderWait::idle : ReaderWait::busy;
        return data && has_room_();
      });
      if (stopping_) return;
      // A little data: let it gather for a moment (appends wake us sooner
      // only once a whole batch is there).
      if (undelivered_events_ < options_.batch_events && options_.linger.count() > 0) {
        reader_wait_ = ReaderWait::lingering;
        readable_.wait_for(lock, options_.linger,
                           [&] { return stopping_ || undelivered_events_ >= options_.batch_events; });
      }
      reader_wait_ = ReaderWait::busy;
      if (stopping_) return;
      take_batch(batch, taken);
      for (auto const& t : taken) segments.push_back(t.cached.empty() ? segment_of(t.offset) : nullptr);
    }
    // Outside the lock: capture appends meanwhile. Records still in memory
    // are taken from there; the others are read back and checked (a pending
    // record's segment is never deleted before the record is committed).
    for (std::size_t i = 0; i < taken.size(); ++i) {
      auto const at = batch.bytes.size();
      if (!taken[i].cached.empty()) {
        batch.bytes += taken[i].cached;
        batch.records.emplace_back(static_cast<std::uint32_t>(at), static_cast<std::uint32_t>(taken[i].cached.size()));
        batch.positions.push_back(taken[i].offset);
        continue;
      }
      auto const& segment = segments[i];
      auto const at_in_file = static_cast<off_t>(taken[i].offset - segment->base);
      Frame f;
      if (::pread(segment->fd, &f, frame_bytes, at_in_file) != static_cast<ssize_t>(frame_bytes)) continue;
      batch.bytes.resize(at + f.size);
      auto const n = ::pread(segment->fd, batch.bytes.data() + at, f.size, at_in_file + static_cast<off_t>(frame_bytes));
      if (n != static_cast<ssize_t>(f.size) || frame_crc(f.partition, std::string_view(batch.bytes).substr(at)) != f.crc) {
        batch.bytes.resize(at);  // damaged since it was written: skipped; the batch's end commits past it
        continue;
      }
      batch.records.emplace_back(static_cast<std::uint32_t>(at), f.size);
      batch.positions.push_back(taken[i].offset);
    }
    deliver_(std::move(batch));
  }
}

void SegmentLog::about_to_sink(const LogBatch& batch) {
  state_->partition(batch.partition).sinking.store(batch.end, std::memory_order_release);
}

void SegmentLog::commit(LogBatch& batch) {
  {
    std::lock_guard lock(mutex_);
    auto& part = index_[batch.partition];
    while (!part.pending.empty() && part.pending.front().offset < batch.end) {
      pending_events_ -= part.pending.front().events;
      part.pending.pop_front();
      if (part.delivered) --part.delivered;
    }
    state_->partition(batch.partition).committed.store(batch.end, std::memory_order_release);
  }
  readable_.notify_all();
}

std::uint64_t SegmentLog::redeliver_uncommitted() {
  std::uint64_t events = 0;
  {
    std::lock_guard lock(mutex_);
    for (std::size_t p = 0; p < index_.size(); ++p) {
      auto& part = index_[p];
      auto const sinking = state_->partition(p).sinking.load(std::memory_order_acquire);
      std::uint64_t here = 0;
      for (std::size_t i = 0; i < part.delivered; ++i) {
        auto const& r = part.pending[i];
        here += r.events;
        if (r.offset < sinking) redelivered_events_ += r.events;
      }
      undelivered_events_ += here;
      events += here;
      part.delivered = 0;
    }
    ++epoch_;
  }
  readable_.notify_all();
  return events;
}

std::uint64_t SegmentLog::epoch() const {
  std::lock_guard lock(mutex_);
  return epoch_;
}

void SegmentLog::checkpoint() {
  std::vector<std::uint64_t> committed(options_.partitions);
  std::uint64_t low = 0;
  {
    std::lock_guard lock(mutex_);
    low = written_end_;
    for (std::size_t p = 0; p < options_.partitions; ++p) {
      committed[p] = state_->partition(p).committed.load(std::memory_order_acquire);
      if (!index_[p].pending.empty()) low = std::min(low, index_[p].pending.front().offset);
    }
  }
  // The sink first: a commit may become durable only once what it commits is.
  if (sync_sink_) sync_sink_();
  for (std::size_t p = 0; p < options_.partitions; ++p) state_->partition(p).durable.store(committed[p]);
  state_->sync();
  std::vector<std::shared_ptr<Segment>> gone;
  {
    std::lock_guard lock(mutex_);
    checkpoint_problem_.clear();
    durable_low_water_ = low;
    while (segments_.size() > 1 && segments_.front()->base + segments_.front()->size <= low) {
      bytes_ -= segments_.front()->size;
      gone.push_back(std::move(segments_.front()));
      segments_.erase(segments_.begin());
    }
    std::lock_guard sync_lock(sync_mutex_);
    refusing_ = bytes_ >= options_.max_bytes || !sync_failure_.empty();
  }
  for (auto const& s : gone) std::filesystem::remove(s->path);
}

void SegmentLog::stop(std::chrono::milliseconds deadline, std::function<bool()> pipeline_idle) {
  auto const until = std::chrono::steady_clock::now() + deadline;
  {
    std::unique_lock lock(mutex_);
    readable_.notify_all();
    // Everything delivered, and the pipeline done with it: committed, or given
    // up on (then it stays pending, for the next start).
    if (reader_.joinable())
      while (std::chrono::steady_clock::now() < until) {
        bool const delivered = std::all_of(index_.begin(), index_.end(),
                                           [](auto const& p) { return p.delivered == p.pending.size(); });
        if (delivered && (pipeline_idle ? pipeline_idle() : true)) break;
        readable_.wait_for(lock, std::chrono::milliseconds(20));
      }
    stopping_ = true;
  }
  readable_.notify_all();
  if (reader_.joinable()) reader_.join();
}

void SegmentLog::finish(std::chrono::milliseconds) {
  finished_ = true;
  checkpoints_.stop();
  try {
    sync_written();
    if (!syncer_.joinable()) {  // never: the kernel's writeback, and this last sync
      std::lock_guard lock(mutex_);
      for (auto const& s : segments_) ::fdatasync(s->fd);
    }
    checkpoint();
    // Everything committed: a fresh, empty segment, the older ones gone.
    std::lock_guard lock(mutex_);
    bool const empty = std::all_of(index_.begin(), index_.end(), [](auto const& p) { return p.pending.empty(); });
    if (empty && segments_.back()->size > 0) {
      auto const end = written_end_;
      std::vector<std::shared_ptr<Segment>> gone(segments_.begin(), segments_.end());
      segments_.clear();
      open_new_segment(end);
      bytes_ = 0;
      for (auto const& s : gone) std::filesystem::remove(s->path);
    }
  } catch (const std::exception& e) {
    std::lock_guard lock(mutex_);
    problem_ = std::string("event log at shutdown: ") + e.what();
  }
  {
    std::lock_guard sync_lock(sync_mutex_);
    stop_syncing_ = true;
  }
  sync_wanted_.notify_all();
  if (syncer_.joinable()) syncer_.join();
}

// ---- visibility ----------------------------------------------------------

LogStatus SegmentLog::status() const {
  std::lock_guard lock(mutex_);
  std::string sync_failure;
  {
    std::lock_guard sync_lock(sync_mutex_);
    sync_failure = sync_failure_;
  }
  LogStatus s;
  s.backend = "segments";
  s.writable = problem_.empty() && sync_failure.empty() && !refusing_.load();
  // Every problem there is, the one that stops capture first.
  for (const std::string* p : std::initializer_list<const std::string*>{&sync_failure, &problem_})
    if (!p->empty()) s.problem += (s.problem.empty() ? "" : "; ") + *p;
  if (refusing_.load() && sync_failure.empty())
    s.problem += std::string(s.problem.empty() ? "" : "; ") + "the event log is full (serve.log.max_bytes)";
  if (!checkpoint_problem_.empty()) s.problem += (s.problem.empty() ? "" : "; ") + checkpoint_problem_;
  s.bytes = bytes_;
  s.max_bytes = options_.max_bytes;
  s.segments = segments_.size();
  s.pending_events = pending_events_;
  s.appended_records = appended_records_;
  s.appended_events = appended_events_;
  s.refused_full = refused_full_;
  s.refused_unavailable = refused_unavailable_;
  s.fsyncs = fsyncs_.load(std::memory_order_relaxed);
  s.redelivered_events = redelivered_events_;
  s.torn_bytes = torn_bytes_;
  return s;
}

void SegmentLog::describe(boost::json::object& ready) const {
  auto const s = status();
  ready["log"] = boost::json::object{{"backend", s.backend},
                                     {"dir", options_.dir.string()},
                                     {"fsync", to_string(options_.fsync)},
                                     {"writable", s.writable},
                                     {"problem", s.problem.empty() ? boost::json::value(nullptr) : boost::json::value(s.problem)},
                                     {"bytes", s.bytes},
                                     {"max_bytes", s.max_bytes},
                                     {"segments", s.segments},
                                     {"pending_events", s.pending_events}};
}

}  // namespace posthog::server
