// ServeProcess: the real `posthog-plugin-server serve`, started on a free
// loopback port with a config written for the test, stopped with SIGTERM.
#pragma once

#include <fcntl.h>
#include <sys/prctl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/json.hpp>
#include <catch2/catch.hpp>
#include <httplib.h>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
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

    // Everything the child needs is prepared here: between fork and exec it
    // may only make async-signal-safe calls, since other threads of the test
    // (a receiver, a client) may hold locks at the moment of the fork.
    std::vector<std::string> environment = std::move(env);
    for (char** e = environ; *e; ++e) environment.emplace_back(*e);  // the test's own come first and win
    std::vector<char*> envp;
    for (auto& e : environment) envp.push_back(e.data());
    envp.push_back(nullptr);
    std::string const config_path = (dir_ / "config.json").string(), out_path = (dir_ / "stdout.log").string(),
                      err_path = (dir_ / "stderr.log").string();
    char const* argv[] = {POSTHOG_SERVER_BINARY, "serve", "--config", config_path.c_str(), nullptr};
    std::filesystem::remove(out_path);  // a restart must not read the last run's "listening" line
    pid_t const parent = ::getpid();
    pid_ = ::fork();
    if (pid_ == 0) {
      // A test process that dies without running destructors (an abort, a
      // sanitizer report) takes its servers with it instead of orphaning them.
      ::prctl(PR_SET_PDEATHSIG, SIGKILL);
      if (::getppid() != parent) ::_exit(125);
      int const out = ::open(out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      int const err = ::open(err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      if (out < 0 || err < 0 || ::dup2(out, 1) < 0 || ::dup2(err, 2) < 0) ::_exit(126);
      ::execve(POSTHOG_SERVER_BINARY, const_cast<char* const*>(argv), envp.data());
      ::_exit(127);
    }
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
      int status = 0;
      if (::waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        throw std::runtime_error("the server exited at start-up: " + stderr_text());
      }
      if (url_.empty()) std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    if (url_.empty()) throw std::runtime_error("the server did not start listening: " + stderr_text());
    port_ = std::stoi(url_.substr(url_.rfind(':') + 1));
  }

  ~ServeProcess() {
    if (pid_ > 0) stop();
    std::error_code ec;
    if (owns_dir_) std::filesystem::remove_all(dir_, ec);
  }

  const std::string& url() const noexcept { return url_; }
  int port() const noexcept { return port_; }
  int admin_port() const noexcept { return admin_port_; }  // 0: the admin API is off
  const std::filesystem::path& dir() const noexcept { return dir_; }
  pid_t pid() const noexcept { return pid_; }

  // SIGKILL: a crash, nothing drained or flushed.
  void kill_hard() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
    pid_ = -1;
    exit_code_ = 128 + SIGKILL;
  }

  // SIGTERM, then the exit code (the server drains first).
  int stop() {
    if (pid_ <= 0) return exit_code_;
    ::kill(pid_, SIGTERM);
    int status = 0;
    ::waitpid(pid_, &status, 0);
    pid_ = -1;
    exit_code_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    return exit_code_;
  }

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
  pid_t pid_ = -1;
  std::string url_;
  int port_ = 0;
  int admin_port_ = 0;
  int exit_code_ = -1;
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

// POST /e/ of one event "e" of `distinct_id` with `properties` for the team
// whose token is `api_key`; requires a 200.
inline void post_event(const ServeProcess& s, const char* api_key, boost::json::object properties,
                       const char* distinct_id = "d") {
  httplib::Client c("127.0.0.1", s.port());
  auto r = c.Post("/e/",
                  boost::json::serialize(boost::json::object{{"api_key", api_key},
                                                             {"event", "e"},
                                                             {"distinct_id", distinct_id},
                                                             {"properties", std::move(properties)}}),
                  "application/json");
  REQUIRE(r);
  REQUIRE(r->status == 200);
}

// Polls `done` every 10 ms for up to 30 s, then requires it (with `what` in the report).
template <class Done>
void wait_until(Done done, const char* what) {
  for (int i = 0; i < 3000 && !done(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  INFO(what);
  REQUIRE(done());
}

}  // namespace posthog::testing
