#include "module_image.hpp"

#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <mutex>
#include <vector>

#include "common/load_error.hpp"

namespace posthog::server {

namespace {

// The process's private directory, made on first use (mode 0700) and removed
// at exit when empty.
class PrivateDirectory {
 public:
  const std::filesystem::path& path() {
    std::call_once(once_, [this] {
      char const* tmp = std::getenv("TMPDIR");
      std::string pattern = std::string(tmp && *tmp ? tmp : "/tmp") + "/posthog-plugin-server.XXXXXX";
      if (::mkdtemp(pattern.data())) path_ = pattern;
      else error_ = std::strerror(errno);
    });
    if (path_.empty())
      throw LoadError("(private module directory)", LoadStep::file,
                      {"cannot create a private directory under $TMPDIR or /tmp: " + error_});
    return path_;
  }
  ~PrivateDirectory() {
    if (!path_.empty()) ::rmdir(path_.c_str());
  }

 private:
  std::once_flag once_;
  std::filesystem::path path_;
  std::string error_;
};

PrivateDirectory& private_directory() {
  static PrivateDirectory directory;
  return directory;
}

std::atomic<std::uint64_t> copies_made{0};

struct Fd {
  int fd;
  ~Fd() {
    if (fd >= 0) ::close(fd);
  }
};

}  // namespace

ModuleImage::ModuleImage(const std::filesystem::path& source) {
  std::string const file = source.string();
  auto fail = [&](const std::string& what) {
    throw LoadError(file, LoadStep::file, {what + ": " + std::strerror(errno)});
  };
  Fd in{::open(source.c_str(), O_RDONLY | O_CLOEXEC)};
  if (in.fd < 0) fail("cannot open");
  struct stat st {};
  if (::fstat(in.fd, &st) != 0) fail("cannot stat");
  if (!S_ISREG(st.st_mode)) throw LoadError(file, LoadStep::file, {"not a regular file"});

  copy_ = private_directory().path() /
          (std::to_string(copies_made.fetch_add(1) + 1) + "-" + source.filename().string());
  Fd out{::open(copy_.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0700)};
  if (out.fd < 0) fail("cannot copy to " + copy_.string());

  std::uint64_t h = 1469598103934665603ull;
  std::vector<unsigned char> buffer(256 * 1024);
  for (;;) {
    ssize_t n = ::read(in.fd, buffer.data(), buffer.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      ::unlink(copy_.c_str());
      fail("cannot read");
    }
    if (n == 0) break;
    for (ssize_t i = 0; i < n; ++i) h = (h ^ buffer[static_cast<std::size_t>(i)]) * 1099511628211ull;
    size_ += static_cast<std::uint64_t>(n);
    for (ssize_t done = 0; done < n;) {
      ssize_t w = ::write(out.fd, buffer.data() + done, static_cast<std::size_t>(n - done));
      if (w < 0 && errno == EINTR) continue;
      if (w < 0) {
        ::unlink(copy_.c_str());
        fail("cannot copy to " + copy_.string());
      }
      done += w;
    }
  }
  char text[17];
  std::snprintf(text, sizeof text, "%016llx", static_cast<unsigned long long>(h));
  hash_ = text;
}

ModuleImage::~ModuleImage() {
  if (!copy_.empty()) ::unlink(copy_.c_str());
}

}  // namespace posthog::server
