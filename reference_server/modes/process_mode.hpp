// Process mode: JSON lines in (one event per line), each team's plugin chain on
// every core, surviving events out as JSON lines; per-plugin errors, plugin log
// lines and a final summary go to the error stream as JSON lines.
//
//   posthog-plugin-server process --config server.json < events.jsonl > out.jsonl
//
// An input line that is not a JSON object, or whose team cannot be resolved
// (team_id, or a known token in token / api_key / $token / properties.token), is
// reported with its line number and skipped. A plugin error is reported and the
// event continues as it was before that plugin. Events of one (team,
// distinct_id) keep their input order in the output.
#pragma once

#include <cstdint>

#include "config/server_config.hpp"

namespace posthog::server {

struct ProcessOptions {
  unsigned workers = 0;  // 0: the config's, else one per core
  int input_fd = 0;
  int output_fd = 1;
  int error_fd = 2;
  int max_capture_depth = 3;  // meta.capture() from an event captured by a plugin, this many levels
  // SIGHUP swaps every plugin whose file changed. It blocks SIGHUP in the
  // calling thread (and the threads it starts): for the command line, not for
  // a test calling run_process_mode in-process.
  bool reload_on_sighup = false;
};

struct ProcessSummary {
  std::uint64_t in = 0;  // events read (lines that parsed and resolved to a team)
  std::uint64_t out = 0;
  std::uint64_t dropped = 0;
  std::uint64_t plugin_errors = 0;
  std::uint64_t malformed = 0;  // lines skipped: not JSON, not an object, no team
  std::uint64_t captured = 0;   // events emitted by plugins
  std::uint64_t load_errors = 0;
  double seconds = 0;
};

// Returns the process exit status: 0 when the input was consumed, 1 when the
// output could not be written.
int run_process_mode(const ServerConfig& config, const ProcessOptions& options, ProcessSummary* summary = nullptr);

}  // namespace posthog::server
