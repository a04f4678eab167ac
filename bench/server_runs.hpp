// Running the server binary from a benchmark: as a child process with its
// standard streams redirected to files, and reading back its JSON lines
// (summary, listening) from them.
#pragma once

#include <boost/json/object.hpp>
#include <posthog/child_process.hpp>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

namespace posthog::bench {

// Runs args[0] with args to its end; stdin, stdout and stderr from/to the
// given files. Its exit code, or 128 + the signal that ended it.
inline int run(std::vector<std::string> args, const std::filesystem::path& in, const std::filesystem::path& out,
               const std::filesystem::path& err) {
  return posthog::testing::ChildProcess(std::move(args), {.input = in, .output = out, .errors = err}).wait();
}

// The last JSON line of `file` whose "type" is `type`; empty when none.
boost::json::object last_json_line(const std::filesystem::path& file, std::string_view type);

// `posthog-plugin-server serve` with `config`, its output in dir/serve.out and
// dir/serve.err; returns once it listens (exits the benchmark if it does not).
struct ServeRun {
  posthog::testing::ChildProcess process;
  int port = 0;
  int admin_port = 0;  // 0: no admin API
};
ServeRun start_serve(const std::filesystem::path& binary, const std::filesystem::path& config,
                     const std::filesystem::path& dir);
// SIGTERM, wait (the server drains), and its summary line.
boost::json::object stop_serve(ServeRun& run, const std::filesystem::path& dir);

}  // namespace posthog::bench
