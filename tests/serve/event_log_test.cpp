// A 200 means on disk: the real server killed with SIGKILL under load, and a
// log whose last record a crash tore, lose nothing that was acknowledged.
#include <catch2/catch.hpp>
#include <httplib.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <set>
#include <thread>

#include "serve_process.hpp"

namespace event_log_test {

using posthog::testing::ServeProcess;
namespace fs = std::filesystem;

namespace {

boost::json::object config() {
  return {{"plugins", {boost::json::object{{"name", "helloworld"}}}},
          {"teams",
           {boost::json::object{{"id", 1}, {"token", "phc_one"}, {"plugins", {boost::json::object{{"name", "helloworld"}}}}},
            boost::json::object{{"id", 2}, {"token", "phc_two"}}}},
          {"serve", {{"log", {{"fsync", "batch"}}}}}};
}

fs::path fresh_dir(const char* name) {
  auto const dir = fs::temp_directory_path() / (std::string(name) + "-" + std::to_string(::getpid()));
  fs::remove_all(dir);
  return dir;
}

// The ids of the events in the sink, counted (a crash may deliver one twice).
std::multiset<std::string> sink_ids(const ServeProcess& s) {
  std::multiset<std::string> ids;
  for (auto const& e : s.sink_events())
    if (auto const* id = e.at("properties").as_object().if_contains("id")) ids.emplace(id->as_string());
  return ids;
}

// Posts batches of 50 events with unique ids until told to stop or the
// server is gone; remembers the ids of every batch answered 200.
class Client {
 public:
  Client(int port, std::string token, std::string name) : port_(port), token_(std::move(token)), name_(std::move(name)) {
    thread_ = std::thread([this] { run(); });
  }
  ~Client() { stop(); }
  void stop() {
    stopping_ = true;
    if (thread_.joinable()) thread_.join();
  }
  std::size_t acknowledged_batches() const { return batches_.load(); }
  std::vector<std::string> acknowledged() {
    std::lock_guard lock(mutex_);
    return ids_;
  }

 private:
  void run() {
    httplib::Client client("127.0.0.1", port_);
    client.set_read_timeout(5);
    for (int n = 0; !stopping_; ++n) {
      boost::json::array batch;
      std::vector<std::string> ids;
      for (int i = 0; i < 50; ++i) {
        ids.push_back(name_ + "-" + std::to_string(n) + "-" + std::to_string(i));
        batch.push_back(boost::json::object{{"event", "e"},
                                            {"distinct_id", "person-" + std::to_string(i % 7)},
                                            {"properties", {{"id", ids.back()}}}});
      }
      auto r = client.Post("/batch/", boost::json::serialize(boost::json::object{{"api_key", token_}, {"batch", batch}}),
                           "application/json");
      if (!r) return;  // the server is gone
      if (r->status != 200) continue;
      std::lock_guard lock(mutex_);
      ids_.insert(ids_.end(), ids.begin(), ids.end());
      ++batches_;
    }
  }

  int port_;
  std::string token_, name_;
  std::atomic<bool> stopping_{false};
  std::atomic<std::size_t> batches_{0};
  std::mutex mutex_;
  std::vector<std::string> ids_;
  std::thread thread_;
};

}  // namespace

TEST_CASE("log: SIGKILL three times under load from two clients loses nothing acknowledged", "[serve][log][crash]") {
  auto const dir = fresh_dir("posthog-kill-under-load");
  std::vector<std::string> acknowledged;
  for (int round = 0; round < 3; ++round) {
    ServeProcess server(config(), {}, dir);
    Client a(server.port(), "phc_one", "a" + std::to_string(round)), b(server.port(), "phc_two", "b" + std::to_string(round));
    // Killed mid-traffic, once both clients have had a few batches taken.
    posthog::testing::wait_until([&] { return a.acknowledged_batches() >= 100 && b.acknowledged_batches() >= 100; },
                                 "both clients to be answered");
    server.kill_hard();
    a.stop();
    b.stop();
    for (auto* c : {&a, &b}) {
      auto ids = c->acknowledged();
      acknowledged.insert(acknowledged.end(), ids.begin(), ids.end());
    }
  }
  ServeProcess last(config(), {}, dir);
  auto const start = last.diagnostics("event_log");
  REQUIRE(start.size() == 1);
  REQUIRE(last.stop() == 0);  // drains whatever the kills left in the log
  auto const ids = sink_ids(last);
  std::size_t missing = 0;
  for (auto const& id : acknowledged) missing += ids.count(id) == 0;
  INFO(acknowledged.size() << " events acknowledged, " << ids.size() << " in the sink");
  CHECK(missing == 0);
  CHECK(acknowledged.size() >= 3 * 2 * 100 * 50);
  // Delivered again after a kill: at most what was handed to the sink and not
  // committed, one batch per partition each time.
  CHECK(ids.size() - std::set<std::string>(ids.begin(), ids.end()).size() <= 3 * 8 * 1000);
  // A restart after a clean stop finds the log empty.
  ServeProcess empty(config(), {}, dir);
  CHECK(empty.diagnostics("event_log").at(0).at("pending_events") == 0);
  REQUIRE(empty.stop() == 0);
  CHECK(sink_ids(empty) == ids);
  fs::remove_all(dir);
}

TEST_CASE("log: a record a crash tore is cut off at start, and nothing acknowledged is lost", "[serve][log][crash]") {
  auto const dir = fresh_dir("posthog-torn-record");
  std::vector<std::string> sent;
  {
    ServeProcess server(config(), {}, dir);
    boost::json::array batch;
    for (int i = 0; i < 20; ++i) {
      sent.push_back("t-" + std::to_string(i));
      batch.push_back(boost::json::object{{"event", "e"}, {"distinct_id", "d"}, {"properties", {{"id", sent.back()}}}});
    }
    posthog::testing::post_batch(server, batch);
    server.kill_hard();
  }
  // What a write torn by the crash leaves: the start of a record's frame and
  // part of its payload, after the last whole record.
  fs::path segment;
  for (auto const& e : fs::directory_iterator(dir / "event-log"))
    if (e.path().extension() == ".log" && (segment.empty() || e.path() > segment)) segment = e.path();
  REQUIRE(!segment.empty());
  {
    std::ofstream torn(segment, std::ios::app | std::ios::binary);
    char const frame[12] = {static_cast<char>(0xe8), 0x03, 0, 0, 0x11, 0x22, 0x33, 0x44, 0, 0, 0, 0};  // 1000 bytes, a CRC
    torn.write(frame, sizeof frame);
    torn << "{\"event\":\"torn";
  }
  ServeProcess server(config(), {}, dir);
  auto const start = server.diagnostics("event_log");
  REQUIRE(start.size() == 1);
  CHECK(start[0].at("torn_bytes") == 12 + 14);
  REQUIRE(server.stop() == 0);
  auto const ids = sink_ids(server);
  for (auto const& id : sent) CHECK(ids.count(id) >= 1);
  CHECK(ids.size() >= sent.size());
  fs::remove_all(dir);
}

}  // namespace event_log_test
