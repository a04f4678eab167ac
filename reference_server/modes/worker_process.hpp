// WorkerProcess: one worker process of a supervisor (serve.isolation:
// process), started from this very executable:
//
//   posthog-plugin-server worker --config FILE --channel-fd 3 --hook-calls-fd 4
//
// with two descriptors of its supervisor's: one end of a socketpair (the
// LogChannel) and a memory file holding the worker's hook-call table, which
// the supervisor still reads after the worker died (which plugin, which hook,
// which event). Its stdout and stderr are the supervisor's.
//
//   WorkerProcess worker({"/proc/self/exe", {"worker", "--config", file}});
//   worker.channel().send(...);
//   int status = worker.wait();       // once the channel said the worker is gone
#pragma once

#include <atomic>

#include <sys/types.h>

#include <memory>
#include <string>
#include <vector>

#include "log/log_channel.hpp"

namespace posthog::server {

class WorkerProcess {
 public:
  static constexpr int channel_fd = 3;
  static constexpr int hook_calls_fd = 4;

  // Starts the worker (throws std::runtime_error saying why it could not).
  // `arguments` follow the executable's name; the two descriptors are added.
  WorkerProcess(const std::string& executable, std::vector<std::string> arguments);
  // A worker still running is killed (SIGKILL) and reaped.
  ~WorkerProcess();
  WorkerProcess(const WorkerProcess&) = delete;
  WorkerProcess& operator=(const WorkerProcess&) = delete;

  pid_t pid() const noexcept { return pid_; }
  LogChannel& channel() noexcept { return *channel_; }
  // The worker's hook-call table (HookCalls::for_each_busy_in, crash_in, ...).
  void* hook_calls() const noexcept { return table_; }
  void kill(int signal) noexcept;
  // Blocks until the worker ended; its wait status (WIFSIGNALED ...). Once.
  int wait();
  bool reaped() const noexcept { return reaped_; }

  // In the worker: maps the table its supervisor handed over and puts this
  // process's hook calls there (HookCalls::place_in). Throws when it cannot.
  static void adopt_hook_calls(int fd);

 private:
  pid_t pid_ = -1;
  std::unique_ptr<LogChannel> channel_;
  void* table_ = nullptr;
  // Set by the supervising thread's wait(); read by the hard-timeout watcher
  // before it signals, so that it never signals a reaped (maybe reused) pid.
  std::atomic<bool> reaped_{false};
  int status_ = 0;
};

}  // namespace posthog::server
