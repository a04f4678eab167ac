// The PostHog forward sink end to end: the real server forwards to a local
// receiver (cpp-httplib, in this process) that fails, refuses and recovers.
#include <catch2/catch.hpp>
#include <httplib.h>

#include <boost/json.hpp>
#include <mutex>
#include <set>
#include <thread>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include "serve_process.hpp"

namespace forward_sink_test {

using posthog::testing::ServeProcess;

namespace {

// PostHog's /batch/ as far as the forward sink can tell: answers what it is told to.
class Receiver {
 public:
  explicit Receiver(int port = 0) {
    server_.Post("/ingest/batch/", [this](const httplib::Request& req, httplib::Response& res) {
      std::lock_guard lock(mutex_);
      ++requests_;
      if (failures_left_ > 0) {
        --failures_left_;
        res.status = failures_left_ % 2 ? 503 : 429;
        res.set_header("Retry-After", "0");
        res.set_content(R"({"error":"try later"})", "application/json");
        return;
      }
      auto body = boost::json::parse(req.body).as_object();
      auto const token = std::string(body.at("api_key").as_string());
      if (token == refused_token_) {
        res.status = 400;
        res.set_content(R"({"type":"validation_error","detail":"refused by the test"})", "application/json");
        return;
      }
      for (auto& e : body.at("batch").as_array()) events_.emplace_back(token, e.as_object());
      res.set_content(R"({"status":"Ok"})", "application/json");
    });
    port_ = port ? (server_.bind_to_port("127.0.0.1", port) ? port : -1) : server_.bind_to_any_port("127.0.0.1");
    REQUIRE(port_ > 0);
    thread_ = std::thread([this] { server_.listen_after_bind(); });
  }
  ~Receiver() {
    server_.stop();
    thread_.join();
  }
  int port() const { return port_; }
  void fail_next(int n) {
    std::lock_guard lock(mutex_);
    failures_left_ = n;
  }
  void refuse_token(std::string t) {
    std::lock_guard lock(mutex_);
    refused_token_ = std::move(t);
  }
  std::vector<std::pair<std::string, boost::json::object>> events() {
    std::lock_guard lock(mutex_);
    return events_;
  }
  int requests() {
    std::lock_guard lock(mutex_);
    return requests_;
  }
  // Waits (bounded, not a timing assertion) until `n` events arrived.
  bool wait_for(std::size_t n) {
    for (int i = 0; i < 3000; ++i) {
      if (events().size() >= n) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return false;
  }

 private:
  httplib::Server server_;
  std::thread thread_;
  int port_ = 0;
  std::mutex mutex_;
  int failures_left_ = 0, requests_ = 0;
  std::string refused_token_;
  std::vector<std::pair<std::string, boost::json::object>> events_;
};

// A loopback port nobody listens on (bound, read, closed).
int free_port() {
  int const fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
  socklen_t len = sizeof addr;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  ::close(fd);
  return ntohs(addr.sin_port);
}

boost::json::object forward_config(int port, boost::json::object extra_sink = {}) {
  boost::json::object sink{{"type", "posthog"}, {"url", "http://127.0.0.1:" + std::to_string(port) + "/ingest"},
                           {"batch_events", 50}, {"drain_seconds", 1}};
  for (auto& kv : extra_sink) sink[kv.key()] = kv.value();
  return {{"plugins", {boost::json::object{{"name", "helloworld"}}}},
          {"teams",
           {boost::json::object{{"id", 1}, {"token", "phc_one"}, {"plugins", {boost::json::object{{"name", "helloworld"}}}}},
            boost::json::object{{"id", 2}, {"token", "phc_two"}}}},
          {"serve", {{"sink", std::move(sink)}}}};
}

// Sends `n` events in batches of 20 as `token`; returns their distinct ids.
std::set<std::string> send_batches(const ServeProcess& s, int n, const char* token = "phc_one", int first = 0) {
  std::set<std::string> ids;
  for (int at = first; at < first + n; at += 20) {
    boost::json::array batch;
    for (int i = at; i < std::min(first + n, at + 20); ++i) {
      batch.push_back({{"event", "e"}, {"distinct_id", "user-" + std::to_string(i)}});
      ids.insert("user-" + std::to_string(i));
    }
    posthog::testing::post_batch(s, std::move(batch), token);
  }
  return ids;
}

std::set<std::string> distinct_ids(const std::vector<std::pair<std::string, boost::json::object>>& events) {
  std::set<std::string> out;
  for (auto const& [token, e] : events) out.insert(std::string(e.at("distinct_id").as_string()));
  return out;
}

}  // namespace

TEST_CASE("forward sink: a target that fails, then recovers, gets every event once", "[serve][forward]") {
  Receiver receiver;
  receiver.fail_next(5);  // 503 and 429, each with Retry-After
  ServeProcess server(forward_config(receiver.port()));
  auto const sent = send_batches(server, 200);
  REQUIRE(receiver.wait_for(200));
  auto const events = receiver.events();
  CHECK(events.size() == 200);  // nothing twice: failed attempts were not taken
  CHECK(distinct_ids(events) == sent);
  CHECK(receiver.requests() >= 5 + 4);  // 200 events in batches of at most 50, after 5 failures
  for (auto const& [token, e] : events) {
    CHECK(token == "phc_one");                                  // each team's own project token
    CHECK(e.at("properties").at("hello") == "world");           // the chain ran before forwarding
    CHECK(e.at("properties").at("$ip") == e.at("ip"));          // the client's address, not ours
  }
  REQUIRE(server.stop() == 0);
  auto summary = server.diagnostics("summary");
  REQUIRE(summary.size() == 1);
  CHECK(summary[0].at("delivered") == 200);
  CHECK(summary[0].at("backlog_events") == 0);
}

TEST_CASE("forward sink: a target down at shutdown keeps the backlog for the next start", "[serve][forward][store]") {
  auto const dir = std::filesystem::temp_directory_path() / ("posthog-forward-" + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  int const port = free_port();
  std::set<std::string> sent;
  {
    ServeProcess server(forward_config(port), {}, dir);  // nobody listens on `port`
    sent = send_batches(server, 60);
    CHECK(server.stop() == 0);  // nothing lost: it is all in the store
    auto kept = server.diagnostics("sink_backlog_kept");
    REQUIRE(kept.size() == 1);
    CHECK(kept[0].at("events") == 60);
  }
  Receiver receiver(port);
  {
    ServeProcess server(forward_config(port), {}, dir);
    auto const more = send_batches(server, 20, "phc_one", 1000);
    sent.insert(more.begin(), more.end());
    REQUIRE(receiver.wait_for(80));
    CHECK(server.stop() == 0);
  }
  auto const events = receiver.events();
  CHECK(events.size() == 80);
  CHECK(distinct_ids(events) == sent);
  // The backlog went first: the 60 older events arrive before the 20 new ones.
  for (std::size_t i = 0; i < 60 && i < events.size(); ++i)
    CHECK(std::stoi(std::string(events[i].second.at("distinct_id").as_string()).substr(5)) < 1000);
  std::filesystem::remove_all(dir);
}

TEST_CASE("forward sink: a batch the target refuses for good is parked, the rest flows; parked batches can be retried",
          "[serve][forward]") {
  Receiver receiver;
  receiver.refuse_token("phc_two");
  auto config = forward_config(receiver.port());
  config["serve"].as_object()["admin"] = {{"listen", "127.0.0.1:0"}, {"token", "forward-test-admin-token"}};
  ServeProcess server(config);
  auto const refused = send_batches(server, 20, "phc_two", 500);
  auto const sent = send_batches(server, 40, "phc_one");
  REQUIRE(receiver.wait_for(40));
  CHECK(distinct_ids(receiver.events()) == sent);

  httplib::Client admin("127.0.0.1", server.admin_port());
  admin.set_bearer_token_auth("forward-test-admin-token");
  boost::json::array parked;
  for (int i = 0; i < 500 && parked.empty(); ++i) {  // the sender parks it right after the 400
    parked = boost::json::parse(admin.Get("/api/sink/parked")->body).at("parked").as_array();
    if (parked.empty()) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  // Wait until all 20 are parked (two workers may have sent them in two batches).
  auto parked_events = [&] {
    std::int64_t n = 0;
    for (auto const& p : parked) {
      CHECK(p.at("token") == "phc_two");
      CHECK(p.at("status") == 400);
      n += p.at("events").as_int64();
    }
    return n;
  };
  for (int i = 0; i < 500 && parked_events() < 20; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
    parked = boost::json::parse(admin.Get("/api/sink/parked")->body).at("parked").as_array();
  }
  REQUIRE(parked_events() == 20);
  receiver.refuse_token("");  // the operator fixed the project on PostHog's side
  auto retried = admin.Post("/api/sink/parked/retry");
  REQUIRE(retried);
  CHECK(boost::json::parse(retried->body).at("requeued_events") == 20);
  REQUIRE(receiver.wait_for(60));
  CHECK(boost::json::parse(admin.Get("/api/sink/parked")->body).at("parked").as_array().empty());
  REQUIRE(server.stop() == 0);
  auto all = sent;
  all.insert(refused.begin(), refused.end());
  CHECK(distinct_ids(receiver.events()) == all);
  auto errors = server.diagnostics("sink_error");
  REQUIRE_FALSE(errors.empty());
  CHECK(errors[0].at("status") == 400);
  CHECK(errors[0].at("message").as_string().find("refused by the test") != boost::json::string::npos);
}

TEST_CASE("forward sink: one api_key for every team when configured", "[serve][forward]") {
  Receiver receiver;
  ServeProcess server(forward_config(receiver.port(), {{"api_key", "phc_shared_project"}}));
  send_batches(server, 10, "phc_one");
  send_batches(server, 10, "phc_two", 100);
  REQUIRE(receiver.wait_for(20));
  REQUIRE(server.stop() == 0);
  for (auto const& [token, e] : receiver.events()) CHECK(token == "phc_shared_project");
}

}  // namespace forward_sink_test
