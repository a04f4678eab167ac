// posthog/child_process.hpp: a program run as a child process, the way tests
// and benchmarks run the real `posthog-plugin-server` binary.
//
// The child's standard streams come from and go to files (or its input from a
// pipe the parent writes to); on Linux it is killed when the thread that
// started it ends (PR_SET_PDEATHSIG: start it from the test's main thread); and
// a child still running when its ChildProcess goes away is killed and reaped,
// so a test that fails half-way leaves no server behind.
//
//   posthog::testing::ChildProcess server({binary, "process", "--config", "teams.json"},
//                                         {.input = "in.jsonl", .output = "out.jsonl", .errors = "err.log"});
//   int exit_code = server.wait();  // or 128 + the signal that ended it
//
// POSIX only (fork, execve, waitpid), like everything that runs the server.
#pragma once

#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>
#if defined(__linux__)
#include <sys/prctl.h>
#endif

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

extern char** environ;

namespace posthog::testing {

// Where a child's standard streams come from and go to.
struct ChildStreams {
  std::filesystem::path input = "/dev/null";  // not read with pipe_input
  bool pipe_input = false;                     // stdin is a pipe; the parent writes to input_fd()
  std::filesystem::path output = "/dev/null";  // truncated
  std::filesystem::path errors = "/dev/null";  // truncated
};

class ChildProcess {
 public:
  using Streams = ChildStreams;

  // Runs args[0] (a path: no PATH search) with `args`. `environment` entries
  // ("NAME=value") replace the parent's variables of the same names. Throws
  // std::runtime_error when it cannot start; a child that cannot open its
  // streams exits 126, one that cannot exec 127.
  explicit ChildProcess(std::vector<std::string> args, Streams streams = {},
                        std::vector<std::string> environment = {}) {
    if (args.empty()) throw std::invalid_argument("ChildProcess: no program to run");
    // Everything the child needs is made here: between fork and exec it may
    // only make async-signal-safe calls, since another thread of the parent
    // (a test's receiver, a client) may hold a lock at the moment of the fork.
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    std::vector<char*> envp;
    for (auto& e : environment) envp.push_back(e.data());
    for (char** e = environ; *e; ++e)
      if (!overridden(*e, environment)) envp.push_back(*e);
    envp.push_back(nullptr);
    std::string const input = streams.input.string(), output = streams.output.string(),
                      errors = streams.errors.string();
    int pipe_fds[2] = {-1, -1};
    if (streams.pipe_input && ::pipe2(pipe_fds, O_CLOEXEC) != 0)
      throw std::runtime_error("ChildProcess: pipe for " + args[0] + ": " + std::strerror(errno));

    // Until exec the child is a copy of the parent, signal handlers included
    // (a test framework's, which would report a signal meant for the child as
    // the test's own failure): signals wait, blocked, until the child has put
    // every handler back to the default.
    sigset_t all, before;
    ::sigfillset(&all);
    ::pthread_sigmask(SIG_SETMASK, &all, &before);
    pid_t const parent = ::getpid();
    pid_ = ::fork();
    if (pid_ != 0) ::pthread_sigmask(SIG_SETMASK, &before, nullptr);
    if (pid_ < 0) {
      int const error = errno;
      if (streams.pipe_input) ::close(pipe_fds[0]), ::close(pipe_fds[1]);
      throw std::runtime_error("ChildProcess: fork for " + args[0] + ": " + std::strerror(error));
    }
    if (pid_ == 0) {
      struct sigaction by_default {};
      by_default.sa_handler = SIG_DFL;
      for (int sig = 1; sig < NSIG; ++sig) ::sigaction(sig, &by_default, nullptr);  // SIGKILL, SIGSTOP: refused, fine
      ::sigprocmask(SIG_SETMASK, &before, nullptr);
#if defined(__linux__)
      ::prctl(PR_SET_PDEATHSIG, SIGKILL);
      if (::getppid() != parent) ::_exit(125);  // the parent died before prctl
#endif
      int const in = streams.pipe_input ? pipe_fds[0] : ::open(input.c_str(), O_RDONLY | O_CLOEXEC);
      int const out = ::open(output.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
      int const err = ::open(errors.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
      if (in < 0 || out < 0 || err < 0 || ::dup2(in, 0) < 0 || ::dup2(out, 1) < 0 || ::dup2(err, 2) < 0) ::_exit(126);
      ::execve(argv[0], argv.data(), envp.data());
      ::_exit(127);
    }
    if (streams.pipe_input) {
      ::close(pipe_fds[0]);
      input_fd_ = pipe_fds[1];
    }
  }

  ~ChildProcess() {
    close_input();
    if (pid_ > 0) stop(SIGKILL);
  }

  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;
  ChildProcess(ChildProcess&& other) noexcept
      : pid_(std::exchange(other.pid_, -1)),
        input_fd_(std::exchange(other.input_fd_, -1)),
        exit_code_(other.exit_code_) {}
  ChildProcess& operator=(ChildProcess&& other) noexcept {
    if (this != &other) {
      this->~ChildProcess();
      pid_ = std::exchange(other.pid_, -1);
      input_fd_ = std::exchange(other.input_fd_, -1);
      exit_code_ = other.exit_code_;
    }
    return *this;
  }

  pid_t pid() const noexcept { return pid_; }  // -1 once it has been waited for
  int input_fd() const noexcept { return input_fd_; }  // -1 without pipe_input, or once closed

  // The child sees the end of its input.
  void close_input() noexcept {
    if (input_fd_ >= 0) ::close(input_fd_);
    input_fd_ = -1;
  }

  // False once the child has exited (it is reaped; exit_code() says how).
  bool running() {
    if (pid_ <= 0) return false;
    int status = 0;
    if (::waitpid(pid_, &status, WNOHANG) != pid_) return true;
    reaped(status);
    return false;
  }

  void signal(int sig) const {
    if (pid_ > 0) ::kill(pid_, sig);
  }

  // Waits for the child to exit: its exit code, or 128 + the signal that ended it.
  int wait() {
    if (pid_ <= 0) return exit_code_;
    int status = 0;
    pid_t r;
    while ((r = ::waitpid(pid_, &status, 0)) < 0 && errno == EINTR) {
    }
    if (r != pid_) throw std::runtime_error("ChildProcess: waitpid: " + std::string(std::strerror(errno)));
    reaped(status);
    return exit_code_;
  }

  // Sends `sig` (SIGTERM: the server drains first) and waits.
  int stop(int sig = SIGTERM) {
    signal(sig);
    return wait();
  }

  int exit_code() const noexcept { return exit_code_; }  // -1 while it runs

 private:
  // `entry` ("NAME=value") names a variable that `environment` sets.
  static bool overridden(const char* entry, const std::vector<std::string>& environment) noexcept {
    const char* const equals = std::strchr(entry, '=');
    std::size_t const name = equals ? static_cast<std::size_t>(equals - entry) : std::strlen(entry);
    for (auto const& e : environment)
      if (e.size() > name && e[name] == '=' && e.compare(0, name, entry, name) == 0) return true;
    return false;
  }

  void reaped(int status) noexcept {
    exit_code_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    pid_ = -1;
  }

  pid_t pid_ = -1;
  int input_fd_ = -1;
  int exit_code_ = -1;
};

}  // namespace posthog::testing
