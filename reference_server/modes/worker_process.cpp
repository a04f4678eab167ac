#include "worker_process.hpp"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>

#include "health/hook_calls.hpp"

extern char** environ;

namespace posthog::server {
namespace {

std::runtime_error failure(const std::string& what) {
  return std::runtime_error("cannot start a worker process: " + what + ": " + std::strerror(errno));
}

// A descriptor closed on scope exit.
struct Fd {
  int fd = -1;
  ~Fd() {
    if (fd >= 0) ::close(fd);
  }
};

}  // namespace

WorkerProcess::WorkerProcess(const std::string& executable, std::vector<std::string> arguments) {
  int pair[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair) != 0) throw failure("socketpair");
  channel_ = std::make_unique<LogChannel>(pair[0]);
  Fd child_end{pair[1]};
  Fd table{::memfd_create("posthog-hook-calls", MFD_CLOEXEC)};
  if (table.fd < 0) throw failure("memfd_create");
  auto const bytes = HookCalls::table_bytes();
  if (::ftruncate(table.fd, static_cast<off_t>(bytes)) != 0) throw failure("ftruncate");
  void* memory = ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, table.fd, 0);
  if (memory == MAP_FAILED) throw failure("mmap");
  table_ = memory;

  arguments.insert(arguments.begin(), executable);
  arguments.insert(arguments.end(), {"--channel-fd", std::to_string(channel_fd), "--hook-calls-fd",
                                     std::to_string(hook_calls_fd)});
  std::vector<char*> argv;
  for (auto& a : arguments) argv.push_back(a.data());
  argv.push_back(nullptr);

  // dup2 onto the fixed numbers clears close-on-exec there, and only there.
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, child_end.fd, channel_fd);
  posix_spawn_file_actions_adddup2(&actions, table.fd, hook_calls_fd);
  // The supervisor blocks its shutdown signals for its sigwait thread; the
  // worker starts with none blocked and none ignored but SIGPIPE's default.
  posix_spawnattr_t attributes;
  posix_spawnattr_init(&attributes);
  sigset_t none, defaults;
  sigemptyset(&none);
  sigemptyset(&defaults);
  for (int s : {SIGTERM, SIGINT, SIGHUP}) sigaddset(&defaults, s);
  posix_spawnattr_setsigmask(&attributes, &none);
  posix_spawnattr_setsigdefault(&attributes, &defaults);
  posix_spawnattr_setflags(&attributes, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
  int const error = ::posix_spawn(&pid_, executable.c_str(), &actions, &attributes, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attributes);
  if (error != 0) {
    errno = error;
    ::munmap(table_, bytes);
    throw failure("posix_spawn " + executable);
  }
}

WorkerProcess::~WorkerProcess() {
  if (!reaped_ && pid_ > 0) {
    ::kill(pid_, SIGKILL);
    wait();
  }
  if (table_) ::munmap(table_, HookCalls::table_bytes());
}

void WorkerProcess::kill(int signal) noexcept {
  if (!reaped_ && pid_ > 0) ::kill(pid_, signal);
}

int WorkerProcess::wait() {
  if (reaped_) return status_;
  while (::waitpid(pid_, &status_, 0) < 0 && errno == EINTR) {
  }
  reaped_ = true;
  return status_;
}

void WorkerProcess::adopt_hook_calls(int fd) {
  void* memory = ::mmap(nullptr, HookCalls::table_bytes(), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (memory == MAP_FAILED)
    throw std::runtime_error(std::string("cannot map the hook-call table from the supervisor: ") + std::strerror(errno));
  ::close(fd);
  HookCalls::place_in(memory);
  HookCalls::install_crash_marker();
}

}  // namespace posthog::server
