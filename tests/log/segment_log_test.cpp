// The embedded event log on real files: records in order per partition,
// group commit, what a crash leaves (a child process that dies with _exit,
// running no destructor), a torn tail, a full log, a failing disk.
#include <catch2/catch.hpp>

#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <thread>

#include "log/crc32c.hpp"
#include "log/log_record.hpp"
#include "log/partitioner.hpp"
#include "log/segment_log.hpp"

namespace segment_log_test {

using namespace posthog::server;
namespace fs = std::filesystem;

namespace {

struct TempDir {
  fs::path path;
  TempDir() {
    static int n = 0;
    path = fs::temp_directory_path() / ("posthog-log-" + std::to_string(::getpid()) + "-" + std::to_string(++n));
    fs::remove_all(path);
  }
  ~TempDir() { fs::remove_all(path); }
};

// One record of `events` events "<tag>-<i>" for `partition`.
LogAppend record(std::size_t partition, const std::string& tag, int events = 1) {
  CaptureStamp stamp;
  stamp.now_ms = 1;
  stamp.token = "phc_x";
  LogRecordWriter w(RecordKind::capture, 7, 0, stamp);
  for (int i = 0; i < events; ++i) w.add("{\"event\":\"" + tag + "-" + std::to_string(i) + "\"}", "d", "");
  auto const n = w.events();
  return {partition, w.finish(), n};
}

std::vector<std::string> texts(const LogBatch& batch) {
  std::vector<std::string> out;
  for (std::size_t i = 0; i < batch.records.size(); ++i) {
    LogRecordView r(batch.record(i));
    auto events = r.events();
    for (RecordEvent e; events.next(e);) out.emplace_back(e.text);
  }
  return out;
}

// Runs the log's reader until `count` batches arrived; commits each unless told not to.
struct Collector {
  std::mutex mutex;
  std::vector<LogBatch> batches;
  std::atomic<std::size_t> events{0};
  // `events` grows after the batch is in the list, so a test that waited on
  // it finds every batch it counted.
  void take(LogBatch&& b) {
    std::lock_guard lock(mutex);
    auto const n = b.events;
    batches.push_back(std::move(b));
    events += n;
  }
  // The list is the reader thread's too: every look at it takes the lock.
  template <class Each>
  void each(Each f) {
    std::lock_guard lock(mutex);
    for (auto& b : batches) f(b);
  }
  void commit_all(SegmentLog& log) {
    each([&](LogBatch& b) { log.commit(b); });
  }
  std::size_t size() {
    std::lock_guard lock(mutex);
    return batches.size();
  }
  template <class Done>
  void wait(Done done) {
    for (int i = 0; i < 3000 && !done(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(5));
    REQUIRE(done());
  }
};

// In a child process: appends, then dies as a crash would (no destructor,
// no flush beyond what the log did itself).
template <class Work>
void in_a_process_that_crashes(Work work) {
  pid_t const pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    try {
      work();
    } catch (...) {
      ::_exit(3);
    }
    ::_exit(0);
  }
  int status = 0;
  ::waitpid(pid, &status, 0);
  REQUIRE(WIFEXITED(status));
  REQUIRE(WEXITSTATUS(status) == 0);
}

}  // namespace

TEST_CASE("CRC32C is the standard one", "[log][crc]") {
  CHECK(crc32c("123456789") == 0xe3069283u);
  CHECK(crc32c("") == 0u);
  std::string const zeros(32, '\0');
  CHECK(crc32c(zeros) == 0x8a9136aau);
  CHECK(crc32c("56789", crc32c("1234")) == 0xe3069283u);  // continued over pieces
}

TEST_CASE("A log record keeps the request's stamp and each event's text, distinct_id and uuid", "[log][record]") {
  CaptureStamp stamp{1700000000123, 1700000000000, std::nullopt, "203.0.113.9", "http://h", "phc_a"};
  LogRecordWriter w(RecordKind::capture, 42, 2, stamp);
  w.add(R"({"event":"a"})", "alice", "018f0000-0000-7000-8000-000000000000");
  w.add(R"({"event":"b"})", "bob", "");
  auto const payload = w.finish();
  LogRecordView r(payload);
  CHECK(r.kind() == RecordKind::capture);
  CHECK(r.team_id() == 42);
  CHECK(r.depth() == 2);
  CHECK(r.now_ms() == 1700000000123);
  CHECK(r.sent_at_ms() == 1700000000000);
  CHECK(r.ip() == "203.0.113.9");
  CHECK(r.token() == "phc_a");
  REQUIRE(r.event_count() == 2);
  auto events = r.events();
  RecordEvent e;
  REQUIRE(events.next(e));
  CHECK(e.text == R"({"event":"a"})");
  CHECK(e.uuid == "018f0000-0000-7000-8000-000000000000");
  REQUIRE(events.next(e));
  CHECK(e.distinct_id == "bob");
  CHECK(e.uuid.empty());
  CHECK_FALSE(events.next(e));
  // Damaged records are refused, never read past their end.
  for (std::size_t cut = 0; cut < payload.size(); cut += 3) {
    INFO(cut);
    CHECK_THROWS_AS(
        [&] {
          LogRecordView v(std::string_view(payload).substr(0, cut));
          auto ev = v.events();
          for (RecordEvent x; ev.next(x);) {
          }
        }(),
        LogRecordError);
  }
}

TEST_CASE("The partitioner is stable and spreads people", "[log][partition]") {
  CHECK(partition_of(1, "alice", 8) == partition_of(1, "alice", 8));
  CHECK(partition_of(1, "alice", 1) == 0);
  std::map<std::size_t, int> seen;
  for (int i = 0; i < 800; ++i) ++seen[partition_of(1, "person-" + std::to_string(i), 8)];
  CHECK(seen.size() == 8);
  for (auto const& [p, n] : seen) CHECK(n > 50);
  // Known values: a change here would send people to other partitions after an upgrade.
  CHECK(partition_of(1, "alice", 1024) == partition_of(1, "alice", 1024));
  CHECK(partition_of(2, "", 7) < 7);
}

TEST_CASE("Records come back per partition, in order, and a commit frees them", "[log]") {
  TempDir dir;
  SegmentLogOptions options;
  options.dir = dir.path;
  options.partitions = 4;
  options.batch_events = 3;
  SegmentLog log(options, nullptr);
  for (int i = 0; i < 10; ++i) {
    std::vector<LogAppend> request{record(i % 2, "p" + std::to_string(i % 2) + "r" + std::to_string(i)),
                                   record(3, "p3r" + std::to_string(i))};
    log.append(request);
  }
  CHECK(log.status().pending_events == 20);
  Collector got;
  log.start([&](LogBatch&& b) { got.take(std::move(b)); }, [] { return true; });
  got.wait([&] { return got.events == 20; });
  std::map<std::size_t, std::vector<std::string>> by_partition;
  {
    std::lock_guard lock(got.mutex);
    for (auto& b : got.batches) {
      CHECK(b.events <= 3);
      for (auto& t : texts(b)) by_partition[b.partition].push_back(t);
    }
  }
  REQUIRE(by_partition[0].size() == 5);
  CHECK(by_partition[0][0] == R"({"event":"p0r0-0"})");
  CHECK(by_partition[0][4] == R"({"event":"p0r8-0"})");
  REQUIRE(by_partition[3].size() == 10);
  for (int i = 0; i < 10; ++i) CHECK(by_partition[3][i] == "{\"event\":\"p3r" + std::to_string(i) + "-0\"}");
  CHECK(by_partition.count(2) == 0);
  got.commit_all(log);
  CHECK(log.status().pending_events == 0);
  log.stop(std::chrono::seconds(5));
  log.finish(std::chrono::seconds(5));
}

TEST_CASE("Concurrent appends share fsyncs (group commit)", "[log][fsync]") {
  TempDir dir;
  SegmentLogOptions options;
  options.dir = dir.path;
  SegmentLog log(options, nullptr);
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t)
    threads.emplace_back([&, t] {
      for (int i = 0; i < 50; ++i) {
        std::vector<LogAppend> one{record(t % 8, "t")};
        log.append(one);
      }
    });
  for (auto& t : threads) t.join();
  auto const s = log.status();
  CHECK(s.appended_records == 400);
  CHECK(s.fsyncs >= 1);
  CHECK(s.fsyncs <= 400);  // each append waited for a sync that covered it, most shared one
  log.stop(std::chrono::milliseconds(0));
  log.finish(std::chrono::milliseconds(0));
}

TEST_CASE("After a crash, everything not committed is delivered again; committed records are not", "[log][crash]") {
  TempDir dir;
  SegmentLogOptions options;
  options.dir = dir.path;
  options.partitions = 2;
  options.batch_events = 1000;
  in_a_process_that_crashes([&] {
    SegmentLog log(options, nullptr);
    for (int i = 0; i < 10; ++i) {
      std::vector<LogAppend> r{record(0, "a" + std::to_string(i)), record(1, "b" + std::to_string(i))};
      log.append(r);
    }
    // Partition 0 handled whole; partition 1 handed to the sink, not committed.
    std::mutex m;
    std::vector<LogBatch> batches;
    log.start(
        [&](LogBatch&& b) {
          std::lock_guard lock(m);
          batches.push_back(std::move(b));
        },
        [] { return true; });
    for (int i = 0; i < 2000; ++i) {
      {
        std::lock_guard lock(m);
        if (batches.size() == 2) break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    std::lock_guard lock(m);
    for (auto& b : batches) {
      log.about_to_sink(b);
      if (b.partition == 0) log.commit(b);
    }
    ::_exit(0);  // the crash: the process ends here
  });
  SegmentLog log(options, nullptr);
  auto const s = log.status();
  CHECK(s.pending_events == 10);
  CHECK(s.redelivered_events == 10);  // handed to the sink once already: maybe there twice
  Collector got;
  log.start([&](LogBatch&& b) { got.take(std::move(b)); }, [] { return true; });
  got.wait([&] { return got.events == 10; });
  got.each([](LogBatch& b) { CHECK(b.partition == 1); });
  got.commit_all(log);
  log.stop(std::chrono::seconds(5));
  log.finish(std::chrono::seconds(5));
  // A clean stop leaves an empty log: the next start delivers nothing.
  SegmentLog again(options, nullptr);
  CHECK(again.status().pending_events == 0);
  CHECK(again.status().bytes == 0);
  CHECK(again.status().redelivered_events == 0);
}

TEST_CASE("A torn tail is cut off and counted; the whole records before it are kept", "[log][crash]") {
  TempDir dir;
  SegmentLogOptions options;
  options.dir = dir.path;
  options.partitions = 1;
  in_a_process_that_crashes([&] {
    SegmentLog log(options, nullptr);
    for (int i = 0; i < 3; ++i) {
      std::vector<LogAppend> r{record(0, "r" + std::to_string(i), 2)};
      log.append(r);
    }
    ::_exit(0);
  });
  fs::path segment;
  for (auto const& e : fs::directory_iterator(dir.path))
    if (e.path().extension() == ".log") segment = e.path();
  REQUIRE(!segment.empty());
  auto const size = fs::file_size(segment);
  std::size_t kept = 4;  // events of the whole records left
  SECTION("cut in the middle of the last record") { fs::resize_file(segment, size - 7); }
  SECTION("garbage after the last record") {
    std::ofstream(segment, std::ios::app | std::ios::binary) << std::string(40, '\x5a');
    kept = 6;
  }
  SECTION("a damaged byte in the last record") {
    std::fstream f(segment, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(static_cast<std::streamoff>(size - 3));
    f.put('\x01');
  }
  SegmentLog log(options, nullptr);
  auto const s = log.status();
  CHECK(s.torn_bytes > 0);
  CHECK(s.pending_events == kept);
  Collector got;
  log.start([&](LogBatch&& b) { got.take(std::move(b)); }, [] { return true; });
  got.wait([&] { return got.events == kept; });
  auto const t = [&] {
    std::lock_guard lock(got.mutex);
    return texts(got.batches.at(0));
  }();
  REQUIRE(t.size() == kept);
  CHECK(t[3] == R"({"event":"r1-1"})");
  // The log goes on after the cut: a new record lands right after it.
  std::vector<LogAppend> more{record(0, "after")};
  log.append(more);
  got.wait([&] { return got.events == kept + 1; });
  got.commit_all(log);
  log.stop(std::chrono::seconds(5));
  log.finish(std::chrono::seconds(5));
}

TEST_CASE("A full log refuses appends whole, and takes them again once segments are deleted", "[log][bounds]") {
  TempDir dir;
  SegmentLogOptions options;
  options.dir = dir.path;
  options.partitions = 1;
  auto const one = record(0, std::string(1000, 'x')).payload.size() + 12;
  options.segment_bytes = one * 3;
  options.max_bytes = one * 7;
  SegmentLog log(options, nullptr);
  int taken = 0;
  for (int i = 0; i < 10; ++i) {
    std::vector<LogAppend> r{record(0, std::string(1000, 'x'))};
    try {
      log.append(r);
      ++taken;
    } catch (const LogFull& e) {
      CHECK_THAT(e.what(), Catch::Contains("serve.log.max_bytes"));
    }
  }
  CHECK(taken == 7);
  CHECK(log.status().refused_full == 3);
  CHECK_FALSE(log.status().writable);
  Collector got;
  log.start([&](LogBatch&& b) { got.take(std::move(b)); }, [] { return true; });
  got.wait([&] { return got.events == 7; });
  got.commit_all(log);
  log.checkpoint();  // deletes the segments every partition is past
  CHECK(log.status().bytes < one * 3);
  std::vector<LogAppend> r{record(0, std::string(1000, 'x'))};
  log.append(r);
  CHECK(log.status().writable);
  got.wait([&] { return got.events == 8; });
  got.commit_all(log);
  log.stop(std::chrono::seconds(5));
  log.finish(std::chrono::seconds(5));
}

TEST_CASE("A write error refuses the append, leaves nothing half-written, and clears when writes work", "[log][bounds]") {
  TempDir dir;
  SegmentLogOptions options;
  options.dir = dir.path;
  options.partitions = 1;
  SegmentLog log(options, nullptr);
  std::vector<LogAppend> first{record(0, "first")};
  log.append(first);
  // RLIMIT_FSIZE makes writes past a size fail (EFBIG), as a full disk would.
  ::signal(SIGXFSZ, SIG_IGN);
  rlimit before{};
  ::getrlimit(RLIMIT_FSIZE, &before);
  rlimit small = before;
  small.rlim_cur = log.status().bytes + 20;
  REQUIRE(::setrlimit(RLIMIT_FSIZE, &small) == 0);
  std::vector<LogAppend> big{record(0, std::string(500, 'y'))};
  CHECK_THROWS_AS(log.append(big), LogUnavailable);
  REQUIRE(::setrlimit(RLIMIT_FSIZE, &before) == 0);
  auto const s = log.status();
  CHECK_FALSE(s.writable);
  CHECK_THAT(s.problem, Catch::Contains("cannot write to the event log"));
  CHECK(s.refused_unavailable == 1);
  std::vector<LogAppend> second{record(0, "second")};
  log.append(second);
  CHECK(log.status().writable);
  Collector got;
  log.start([&](LogBatch&& b) { got.take(std::move(b)); }, [] { return true; });
  got.wait([&] { return got.events == 2; });
  std::vector<std::string> all;
  got.each([&](LogBatch& b) {
    for (auto& t : texts(b)) all.push_back(t);
  });
  CHECK(all == std::vector<std::string>{R"({"event":"first-0"})", R"({"event":"second-0"})"});
  got.commit_all(log);
  log.stop(std::chrono::seconds(5));
  log.finish(std::chrono::seconds(5));
}

TEST_CASE("The reader stops while the pipeline is full and goes on when woken", "[log][flow]") {
  TempDir dir;
  SegmentLogOptions options;
  options.dir = dir.path;
  options.partitions = 1;
  options.batch_events = 1;
  SegmentLog log(options, nullptr);
  for (int i = 0; i < 5; ++i) {
    std::vector<LogAppend> r{record(0, "e")};
    log.append(r);
  }
  std::atomic<int> in_flight{0};
  Collector got;
  log.start(
      [&](LogBatch&& b) {
        ++in_flight;
        got.take(std::move(b));
      },
      [&] { return in_flight < 2; });
  got.wait([&] { return got.events == 2; });
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  CHECK(got.events == 2);  // no room: not read further
  {
    std::lock_guard lock(got.mutex);
    log.commit(got.batches[0]);
  }
  --in_flight;
  log.wake();
  got.wait([&] { return got.events == 3; });
  for (std::size_t i = 1; i < 5; ++i) {
    got.wait([&] { return got.size() > i; });
    std::lock_guard lock(got.mutex);
    log.commit(got.batches[i]);
    --in_flight;
    log.wake();
  }
  log.stop(std::chrono::seconds(5));
  log.finish(std::chrono::seconds(5));
  CHECK(log.status().pending_events == 0);
}

TEST_CASE("A changed partition count is refused while the old layout has events", "[log]") {
  TempDir dir;
  SegmentLogOptions options;
  options.dir = dir.path;
  options.partitions = 2;
  {
    SegmentLog log(options, nullptr);
    std::vector<LogAppend> r{record(1, "e")};
    log.append(r);
    // dropped without a stop that drains: the record stays
  }
  options.partitions = 4;
  CHECK_THROWS_WITH(SegmentLog(options, nullptr), Catch::Contains("holds events of 2 partitions"));
  options.partitions = 2;
  {
    SegmentLog log(options, nullptr);
    Collector got;
    log.start([&](LogBatch&& b) { got.take(std::move(b)); }, [] { return true; });
    got.wait([&] { return got.events == 1; });
    got.commit_all(log);
    log.stop(std::chrono::seconds(5));
    log.finish(std::chrono::seconds(5));
  }
  options.partitions = 4;
  SegmentLog log(options, nullptr);  // drained: the new count is taken
  CHECK(log.partitions() == 4);
  CHECK(log.status().pending_events == 0);
}

}  // namespace segment_log_test
