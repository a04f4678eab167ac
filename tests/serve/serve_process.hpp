// ServeProcess: the real `posthog-plugin-server serve`, started on a free
// loopback port with a config written for the test, stopped with SIGTERM.
#pragma once

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/json.hpp>
#include <chrono>
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
  explicit ServeProcess(boost::json::object config, std::vector<std::string> env = {}) {
    static int counter = 0;
    dir_ = std::filesystem::temp_directory_path() /
           ("posthog-serve-" + std::to_string(::getpid()) + "-" + std::to_string(++counter));
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
    if (!config.contains("plugins_dir")) config["plugins_dir"] = POSTHOG_PLUGINS_DIR;
    auto& serve = config["serve"];
    if (!serve.is_object()) serve = boost::json::object{};
    auto& s = serve.as_object();
    if (!s.contains("listen")) s["listen"] = "127.0.0.1:0";
    if (!s.contains("sink")) s["sink"] = boost::json::object{{"path", "events.jsonl"}};
    std::ofstream(dir_ / "config.json") << boost::json::serialize(config);

    pid_ = ::fork();
    if (pid_ == 0) {
      ::freopen((dir_ / "stdout.log").c_str(), "w", stdout);
      ::freopen((dir_ / "stderr.log").c_str(), "w", stderr);
      for (auto& e : env) ::putenv(e.data());
      ::execl(POSTHOG_SERVER_BINARY, POSTHOG_SERVER_BINARY, "serve", "--config", (dir_ / "config.json").c_str(),
              static_cast<char*>(nullptr));
      ::_exit(127);
    }
    // Wait for the "listening" line (the server binds before it prints it).
    for (int i = 0; i < 1000 && url_.empty(); ++i) {
      std::ifstream in(dir_ / "stdout.log");
      std::string line;
      if (std::getline(in, line) && !line.empty()) {
        std::error_code ec;
        auto v = boost::json::parse(line, ec);
        if (!ec && v.is_object() && v.as_object().contains("url")) url_ = std::string(v.at("url").as_string());
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
    std::filesystem::remove_all(dir_, ec);
  }

  const std::string& url() const noexcept { return url_; }
  int port() const noexcept { return port_; }
  const std::filesystem::path& dir() const noexcept { return dir_; }

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
  int exit_code_ = -1;
};

}  // namespace posthog::testing
