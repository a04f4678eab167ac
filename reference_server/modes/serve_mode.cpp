#include "serve_mode.hpp"

#include <pthread.h>
#include <signal.h>

#include "diagnostics.hpp"
#include "process_memory.hpp"
#include "serve_topology.hpp"
#include "worker_supervisor.hpp"

namespace posthog::server {

int run_serve_mode(ServerConfig file_config, const ServeSettings& settings, const ServeOptions& options) {
  // Every thread started from here on inherits a mask without SIGTERM/SIGINT/
  // SIGHUP: only this thread receives them, in sigwait below.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  // Plugins run in a supervised worker process, unless the settings trust
  // them with this one (or it runs none: a capture server of a cluster).
  bool const supervise = settings.isolation == "process" && settings.role != "capture";
  std::unique_ptr<ServeTopology> topology;
  std::unique_ptr<WorkerSupervisor> supervisor;
  try {
    if (supervise) supervisor = std::make_unique<WorkerSupervisor>(settings, options);
    else topology = std::make_unique<ServeTopology>(file_config, settings, options);
  } catch (const std::exception& e) {
    // The store, the log or a port could not be opened: already reported
    // when it was a port (listen_error); said here otherwise.
    FdWriter(options.error_fd).write(diagnostic_line({{"type", "start_error"}, {"message", e.what()}}));
    return 1;
  }
  // The teams' specs now live in the chains (or, supervising, in the worker):
  // the file's copy would only hold memory, 2 KB a team.
  file_config = ServerConfig{};
  return_free_memory();
  int signal_number = 0;
  for (;;) {
    sigwait(&signals, &signal_number);
    if (signal_number != SIGHUP) break;
    if (supervisor) supervisor->reload_changed();
    else topology->reload_changed();
  }
  char const* name = signal_number == SIGTERM ? "SIGTERM" : "SIGINT";
  return supervisor ? supervisor->shutdown(name) : topology->shutdown(name);
}

}  // namespace posthog::server
