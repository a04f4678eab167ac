#include "server_runs.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/json/parse.hpp>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <thread>

namespace posthog::bench {

pid_t spawn(const std::vector<std::string>& args, const std::filesystem::path& in, const std::filesystem::path& out,
            const std::filesystem::path& err) {
  pid_t const pid = fork();
  if (pid == 0) {
    int const i = open(in.c_str(), O_RDONLY), o = open(out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644),
              e = open(err.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    dup2(i, 0), dup2(o, 1), dup2(e, 2);
    std::vector<std::string> copy = args;
    std::vector<char*> argv;
    for (auto& a : copy) argv.push_back(a.data());
    argv.push_back(nullptr);
    execv(argv[0], argv.data());
    _exit(127);
  }
  return pid;
}

int wait_for(pid_t pid) {
  int status = 0;
  waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

boost::json::object last_json_line(const std::filesystem::path& file, std::string_view type) {
  boost::json::object found;
  std::ifstream in(file);
  for (std::string line; std::getline(in, line);) {
    std::error_code ec;
    auto v = boost::json::parse(line, ec);
    if (ec || !v.is_object()) continue;
    auto const* t = v.as_object().if_contains("type");
    if (t && t->is_string() && t->get_string() == type) found = std::move(v.as_object());
  }
  return found;
}

ServeRun start_serve(const std::filesystem::path& binary, const std::filesystem::path& config,
                     const std::filesystem::path& dir) {
  std::filesystem::remove(dir / "serve.out");  // else the previous server's line could be read
  ServeRun s;
  s.pid = spawn({binary.string(), "serve", "--config", config.string()}, "/dev/null", dir / "serve.out",
                dir / "serve.err");
  for (int i = 0; i < 2000 && !s.port; ++i) {
    auto const listening = last_json_line(dir / "serve.out", "listening");
    if (listening.empty()) {
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
      continue;
    }
    std::string const url(listening.at("url").as_string());
    s.port = std::stoi(url.substr(url.rfind(':') + 1));
  }
  if (!s.port) {
    std::fprintf(stderr, "the server did not start; see %s\n", (dir / "serve.err").c_str());
    std::exit(1);
  }
  return s;
}

boost::json::object stop_serve(ServeRun& run, const std::filesystem::path& dir) {
  kill(run.pid, SIGTERM);
  wait_for(run.pid);
  run.pid = -1;
  return last_json_line(dir / "serve.err", "summary");
}

}  // namespace posthog::bench
