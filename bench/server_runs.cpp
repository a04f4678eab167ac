#include "server_runs.hpp"

#include <signal.h>

#include <boost/json/parse.hpp>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <thread>

namespace posthog::bench {

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
  ServeRun s{posthog::testing::ChildProcess({binary.string(), "serve", "--config", config.string()},
                                            {.output = dir / "serve.out", .errors = dir / "serve.err"})};
  auto port_of = [](const boost::json::value& url) {
    std::string const u(url.as_string());
    return std::stoi(u.substr(u.rfind(':') + 1));
  };
  for (int i = 0; i < 2000 && !s.port; ++i) {
    auto const listening = last_json_line(dir / "serve.out", "listening");
    if (listening.empty()) {
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
      continue;
    }
    s.port = port_of(listening.at("url"));
    if (auto const* admin = listening.if_contains("admin_url"); admin && admin->is_string())
      s.admin_port = port_of(*admin);
  }
  if (!s.port) {
    std::fprintf(stderr, "the server did not start; see %s\n", (dir / "serve.err").c_str());
    std::exit(1);
  }
  return s;
}

boost::json::object stop_serve(ServeRun& run, const std::filesystem::path& dir) {
  run.process.stop(SIGTERM);
  return last_json_line(dir / "serve.err", "summary");
}

}  // namespace posthog::bench
