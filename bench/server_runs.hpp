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

}  // namespace posthog::bench
