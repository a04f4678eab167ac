#include "plugin_dir_watch.hpp"

#include <poll.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <map>
#include <stdexcept>

namespace posthog::server {

PluginDirWatch::PluginDirWatch(std::vector<std::filesystem::path> folders, OnChange on_change,
                               std::chrono::milliseconds debounce, OnError on_error)
    : on_change_(std::move(on_change)), on_error_(std::move(on_error)), debounce_(debounce) {
  inotify_fd_ = ::inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
  if (inotify_fd_ < 0) throw std::runtime_error(std::string("inotify_init1: ") + std::strerror(errno));
  stop_fd_ = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (stop_fd_ < 0) {
    ::close(inotify_fd_);
    throw std::runtime_error(std::string("eventfd: ") + std::strerror(errno));
  }
  for (auto& folder : folders) {
    bool seen = false;
    for (auto const& f : folders_) seen = seen || f == folder;
    if (seen) continue;
    int wd = ::inotify_add_watch(inotify_fd_, folder.c_str(), IN_CLOSE_WRITE | IN_MOVED_TO);
    if (wd < 0) {
      std::string why = std::strerror(errno);
      ::close(inotify_fd_);
      ::close(stop_fd_);
      throw std::runtime_error("cannot watch " + folder.string() + ": " + why);
    }
    folders_.push_back(folder);
    watches_.push_back(wd);
  }
  thread_ = std::thread([this] { run(); });
}

PluginDirWatch::~PluginDirWatch() {
  std::uint64_t one = 1;
  [[maybe_unused]] auto n = ::write(stop_fd_, &one, sizeof one);
  if (thread_.joinable()) thread_.join();
  ::close(inotify_fd_);
  ::close(stop_fd_);
}

void PluginDirWatch::run() {
  using clock = std::chrono::steady_clock;
  std::map<std::filesystem::path, clock::time_point> pending;  // file -> last event
  alignas(inotify_event) char buffer[16 * 1024];
  for (;;) {
    int timeout = -1;
    if (!pending.empty()) {
      auto next = clock::time_point::max();
      for (auto const& [file, at] : pending) next = std::min(next, at + debounce_);
      auto const wait = std::chrono::duration_cast<std::chrono::milliseconds>(next - clock::now()).count();
      timeout = static_cast<int>(std::max<long long>(0, wait) + 1);
    }
    pollfd fds[2] = {{inotify_fd_, POLLIN, 0}, {stop_fd_, POLLIN, 0}};
    int const ready = ::poll(fds, 2, timeout);
    if (ready < 0 && errno != EINTR) {
      if (on_error_) on_error_(std::string("the plugins folder watch stopped: poll: ") + std::strerror(errno));
      return;
    }
    if (fds[1].revents) return;
    if (fds[0].revents & POLLIN) {
      for (;;) {
        ssize_t const n = ::read(inotify_fd_, buffer, sizeof buffer);
        if (n <= 0) break;
        for (ssize_t at = 0; at < n;) {
          auto const* event = reinterpret_cast<const inotify_event*>(buffer + at);
          at += static_cast<ssize_t>(sizeof(inotify_event) + event->len);
          if (event->mask & IN_Q_OVERFLOW) {
            pending[{}] = clock::now();  // events were lost: any file may have changed
            continue;
          }
          if (event->mask & IN_IGNORED) {  // the folder went away (or was unmounted)
            for (std::size_t i = 0; i < watches_.size(); ++i)
              if (watches_[i] == event->wd && on_error_)
                on_error_("the plugins folder " + folders_[i].string() +
                          " is no longer watched (deleted, moved or unmounted): new builds there are swapped in "
                          "only on SIGHUP or through the admin API until the server restarts");
            continue;
          }
          if (event->len == 0) continue;
          for (std::size_t i = 0; i < watches_.size(); ++i)
            if (watches_[i] == event->wd) pending[folders_[i] / event->name] = clock::now();
        }
      }
    }
    auto const now = clock::now();
    for (auto it = pending.begin(); it != pending.end();) {
      if (now - it->second < debounce_) {
        ++it;
        continue;
      }
      auto const file = it->first;
      it = pending.erase(it);
      on_change_(file);
    }
  }
}

}  // namespace posthog::server
