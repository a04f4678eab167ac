// Running the server binary from a benchmark: as a child process with its
// standard streams redirected to files, and reading back its JSON lines
// (summary, listening) from them.
#pragma once

#include <sys/types.h>

#include <boost/json/object.hpp>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

namespace posthog::bench {

// Starts args[0] with args; stdin, stdout and stderr from/to the given files.
pid_t spawn(const std::vector<std::string>& args, const std::filesystem::path& in, const std::filesystem::path& out,
            const std::filesystem::path& err);
// Waits for the child; its exit code, or 128 + the signal that ended it.
int wait_for(pid_t pid);
inline int run(const std::vector<std::string>& args, const std::filesystem::path& in,
               const std::filesystem::path& out, const std::filesystem::path& err) {
  return wait_for(spawn(args, in, out, err));
}

// The last JSON line of `file` whose "type" is `type`; empty when none.
boost::json::object last_json_line(const std::filesystem::path& file, std::string_view type);

// `posthog-plugin-server serve` with `config`, its output in dir/serve.out and
// dir/serve.err; returns once it listens (exits the benchmark if it does not).
struct ServeRun {
  pid_t pid = -1;
  int port = 0;
};
ServeRun start_serve(const std::filesystem::path& binary, const std::filesystem::path& config,
                     const std::filesystem::path& dir);
// SIGTERM, wait (the server drains), and its summary line.
boost::json::object stop_serve(ServeRun& run, const std::filesystem::path& dir);

}  // namespace posthog::bench
