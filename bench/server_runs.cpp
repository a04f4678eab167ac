#include "server_runs.hpp"

#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/json/parse.hpp>
#include <fstream>

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

}  // namespace posthog::bench
