// ServeProcess: the real `posthog-plugin-server serve`, started on a free
// loopback port with a config written for the test, stopped with SIGTERM.
#pragma once

#include <signal.h>
#include <unistd.h>

#include <boost/json.hpp>
#include <catch2/catch.hpp>
#include <httplib.h>
#include <posthog/child_process.hpp>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace posthog::testing {

class ServeProcess {
 public:
  // `config` gets plugins_dir and serve.listen/sink filled in unless present.
  // With `dir`, the server runs in that folder (a restart: its store and sink
  // are still there) and leaves it in place.
  explicit ServeProcess(boost::json::object config, std::vector<std::string> env = {},
                        std::filesystem::path dir = {}) {
    static int counter = 0;
    owns_dir_ = dir.empty();
    dir_ = owns_dir_ ? std::filesystem::temp_directory_path() /
                           ("posthog-serve-" + std::to_string(::getpid()) + "-" + std::to_string(++counter))
                     : dir;
    if (owns_dir_) std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
    if (!config.contains("plugins_dir")) config["plugins_dir"] = POSTHOG_PLUGINS_DIR;
    auto& serve = config["serve"];
    if (!serve.is_object()) serve = boost::json::object{};
    auto& s = serve.as_object();
    if (!s.contains("listen")) s["listen"] = "127.0.0.1:0";
    if (!s.contains("sink")) s["sink"] = boost::json::object{{"path", "events.jsonl"}};
    std::ofstream(dir_ / "config.json") << boost::json::serialize(config);
    std::filesystem::remove(dir_ / "stdout.log");  // a restart must not read the last run's "listening" line
    process_.emplace(std::vector<std::string>{POSTHOG_SERVER_BINARY, "serve", "--config", (dir_ / "config.json").string()},
                     ChildProcess::Streams{.output = dir_ / "stdout.log", .errors = dir_ / "stderr.log"},
                     std::move(env));
    // Wait for the "listening" line (the server binds before it prints it).
    for (int i = 0; i < 1000 && url_.empty(); ++i) {
      std::ifstream in(dir_ / "stdout.log");
      std::string line;
      if (std::getline(in, line) && !line.empty()) {
        std::error_code ec;
        auto v = boost::json::parse(line, ec);
        if (!ec && v.is_object() && v.as_object().contains("url")) {
          url_ = std::string(v.at("url").as_string());
          if (auto const* a = v.as_object().if_contains("admin_url"); a && a->is_string())
          {
            std::string const admin_url(a->get_string());
            admin_port_ = std::stoi(admin_url.substr(admin_url.rfind(':') + 1));
          }
        }
      }
      if (!process_->running()) throw std::runtime_error("the server exited at start-up: " + stderr_text());
      if (url_.empty()) std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    if (url_.empty()) throw std::runtime_error("the server did not start listening: " + stderr_text());
    port_ = std::stoi(url_.substr(url_.rfind(':') + 1));
  }

  ~ServeProcess() {
    if (process_ && process_->pid() > 0) stop();
    std::error_code ec;
    if (owns_dir_) std::filesystem::remove_all(dir_, ec);
  }

  const std::string& url() const noexcept { return url_; }
  int port() const noexcept { return port_; }
  int admin_port() const noexcept { return admin_port_; }  // 0: the admin API is off
  const std::filesystem::path& dir() const noexcept { return dir_; }
  pid_t pid() const noexcept { return process_->pid(); }

  // SIGKILL: a crash, nothing drained or flushed.
  void kill_hard() { process_->stop(SIGKILL); }

  // SIGTERM, then the exit code (the server drains first).
  int stop() { return process_->stop(SIGTERM); }

  // The sink's events (complete lines only).
  std::vector<boost::json::object> sink_events() const {
    std::vector<boost::json::object> out;
    std::ifstream in(dir_ / "events.jsonl");
    for (std::string line; std::getline(in, line);) out.push_back(boost::json::parse(line).as_object());
    return out;
  }
  std::vector<boost::json::object> diagnostics(std::string_view type) const {
    std::vector<boost::json::object> out;
    std::ifstream in(dir_ / "stderr.log");
    for (std::string line; std::getline(in, line);) {
      std::error_code ec;
      auto v = boost::json::parse(line, ec);
      if (!ec && v.is_object() && v.as_object().contains("type") && v.at("type").as_string() == type)
        out.push_back(v.as_object());
    }
    return out;
  }
  std::string stderr_text() const {
    std::ifstream in(dir_ / "stderr.log");
    return std::string(std::istreambuf_iterator<char>(in), {});
  }

 private:
  std::filesystem::path dir_;
  std::optional<ChildProcess> process_;
  std::string url_;
  int port_ = 0;
  int admin_port_ = 0;
  bool owns_dir_ = true;
};

// The fixture module (tests/modules/testkit) as a config's "plugins" entry.
inline boost::json::object testkit_plugin() {
  return {{"name", "testkit"}, {"file", std::string(POSTHOG_TEST_MODULES_DIR) + "/testkit.so"}};
}

// GET on the server's admin API with `token`; requires a 200 and returns its JSON.
inline boost::json::object admin_get(const ServeProcess& s, const std::string& token, const std::string& path) {
  httplib::Client c("127.0.0.1", s.admin_port());
  c.set_bearer_token_auth(token);
  auto r = c.Get(path.c_str());
  REQUIRE(r);
  REQUIRE(r->status == 200);
  return boost::json::parse(r->body).as_object();
}

// One event as a PostHog client sends it; the defaults are what most tests send.
struct CaptureEvent {
  std::string api_key = "phc_one";
  std::string event = "e";
  std::string distinct_id = "d";
  boost::json::object properties;
};

namespace detail {
inline int post_capture(const ServeProcess& s, const char* path, const boost::json::object& body) {
  httplib::Client c("127.0.0.1", s.port());
  c.set_read_timeout(60);  // an fsync under a sanitizer's load can be slow; a refusal is what is tested
  auto r = c.Post(path, boost::json::serialize(body), "application/json");
  return r ? r->status : 0;
}
inline void require_taken(const ServeProcess& s, const char* path, int status) {
  if (status != 200)
    FAIL("POST " << path << " answered " << status << " (0: no answer), not 200; the server's stderr:\n"
                 << s.stderr_text());
}
}  // namespace detail

// POST /e/ of `event`: the HTTP status, 0 when the server did not answer.
inline int capture_status(const ServeProcess& s, const CaptureEvent& event) {
  return detail::post_capture(s, "/e/",
                              {{"api_key", event.api_key},
                               {"event", event.event},
                               {"distinct_id", event.distinct_id},
                               {"properties", event.properties}});
}

// POST /e/ of `event`, requiring a 200.
inline void post_event(const ServeProcess& s, const CaptureEvent& event) {
  detail::require_taken(s, "/e/", capture_status(s, event));
}

// POST /batch/ of `events` (objects with event, distinct_id, properties) for
// the team whose token is `api_key`, requiring a 200.
inline void post_batch(const ServeProcess& s, boost::json::array events, const std::string& api_key = "phc_one") {
  detail::require_taken(s, "/batch/",
                        detail::post_capture(s, "/batch/", {{"api_key", api_key}, {"batch", std::move(events)}}));
}

// Polls `done` every 10 ms, 3,000 times at most, then requires it (with `what`
// in the report, and what `server`'s stderr says when one is given).
template <class Done>
void wait_until(Done done, const char* what, const ServeProcess* server = nullptr) {
  // 3,000 looks 10 ms apart, and two minutes at most: a look that gets slower
  // as the test runs (a sink read whole) must not make a failure take forever.
  auto const give_up = std::chrono::steady_clock::now() + std::chrono::minutes(2);
  for (int i = 0; i < 3000 && !done() && std::chrono::steady_clock::now() < give_up; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  INFO(what);
  if (server && !done()) FAIL(what << "; the server's stderr:\n" << server->stderr_text());
  REQUIRE(done());
}

}  // namespace posthog::testing
