// ChildProcess, the one way tests and benchmarks start the server binary:
// streams, exit codes, signals, and that a child is never left behind.
#include <catch2/catch.hpp>
#include <posthog/child_process.hpp>

#include <cerrno>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

namespace child_process_test {

using posthog::testing::ChildProcess;
namespace fs = std::filesystem;

namespace {

struct Scratch {
  fs::path dir = fs::temp_directory_path() / ("posthog-child-process-" + std::to_string(::getpid()));
  Scratch() { fs::create_directories(dir); }
  ~Scratch() {
    std::error_code ec;
    fs::remove_all(dir, ec);
  }
  std::string read(const char* name) const {
    std::ifstream in(dir / name);
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
  }
};

}  // namespace

TEST_CASE("ChildProcess: input through a pipe, output and errors in files, the exit code", "[sdk][child]") {
  Scratch scratch;
  ChildProcess child({"/bin/sh", "-c", "cat; echo oops >&2; exit 3"},
                     {.pipe_input = true, .output = scratch.dir / "out", .errors = scratch.dir / "err"});
  REQUIRE(child.input_fd() >= 0);
  REQUIRE(::write(child.input_fd(), "hello\n", 6) == 6);
  child.close_input();  // cat sees the end of its input
  CHECK(child.wait() == 3);
  CHECK(child.pid() == -1);
  CHECK(scratch.read("out") == "hello\n");
  CHECK(scratch.read("err") == "oops\n");
}

TEST_CASE("ChildProcess: input from a file, and the given environment wins over the parent's", "[sdk][child]") {
  Scratch scratch;
  std::ofstream(scratch.dir / "in") << "from the file";
  ::setenv("POSTHOG_CHILD_TEST", "the parent's", 1);
  ChildProcess child({"/bin/sh", "-c", "cat; printf ' %s' \"$POSTHOG_CHILD_TEST\""},
                     {.input = scratch.dir / "in", .output = scratch.dir / "out"}, {"POSTHOG_CHILD_TEST=the test's"});
  CHECK(child.wait() == 0);
  ::unsetenv("POSTHOG_CHILD_TEST");
  CHECK(scratch.read("out") == "from the file the test's");
}

TEST_CASE("ChildProcess: a signal ends it with 128 + the signal; running() sees it end", "[sdk][child]") {
  ChildProcess child({"/bin/sleep", "60"});
  CHECK(child.running());
  CHECK(child.stop(SIGTERM) == 128 + SIGTERM);
  CHECK_FALSE(child.running());
  CHECK(child.exit_code() == 128 + SIGTERM);
}

TEST_CASE("ChildProcess: a program that cannot be run exits 127, a stream that cannot be opened 126",
          "[sdk][child]") {
  CHECK(ChildProcess({"/nonexistent/posthog-plugin-server"}).wait() == 127);
  CHECK(ChildProcess({"/bin/true"}, {.output = "/nonexistent/dir/out"}).wait() == 126);
  CHECK_THROWS_AS(ChildProcess({}), std::invalid_argument);
}

TEST_CASE("ChildProcess: a child still running when it goes out of scope is killed and reaped", "[sdk][child]") {
  pid_t pid = -1;
  {
    ChildProcess child({"/bin/sleep", "60"});
    pid = child.pid();
    REQUIRE(pid > 0);
    ChildProcess moved = std::move(child);  // the moved-from one owns nothing
    CHECK(child.pid() == -1);
    CHECK(moved.pid() == pid);
  }
  errno = 0;
  CHECK(::kill(pid, 0) == -1);  // no such process: not even a zombie is left
  CHECK(errno == ESRCH);
}

}  // namespace child_process_test
