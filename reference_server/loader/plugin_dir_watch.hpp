// PluginDirWatch: notices new plugin builds in the plugins folders (inotify)
// and reports each file once it has been quiet for a moment.
//
// It reacts to a file closed after writing (`cp`, a linker writing in place)
// and to a file renamed into the folder (`mv`, `install`, the atomic way), and
// waits `debounce` after the last such event for that file, so a build that
// writes in several goes is reported once. Reports run on the watch's own
// thread, one at a time; what they do (ModuleSwap::swap_in) may block it.
// When the kernel's event queue overflowed, events were lost: the report is an
// empty path, meaning "any file may have changed". A folder that stops being
// watched (deleted, moved, unmounted) or a failing poll is reported to
// `on_error`, which is the only way to learn that new builds are no longer seen.
//
//   PluginDirWatch watch({"build/plugins"}, [&](const std::filesystem::path& file) {
//     if (auto const* spec = swap.plugin_for_file(file)) swap.swap_in(spec->name, "inotify");
//   });
#pragma once

#include <chrono>
#include <filesystem>
#include <functional>
#include <string>
#include <thread>
#include <vector>

namespace posthog::server {

class PluginDirWatch {
 public:
  using OnChange = std::function<void(const std::filesystem::path&)>;
  using OnError = std::function<void(const std::string&)>;

  // Throws std::runtime_error naming the folder that cannot be watched.
  PluginDirWatch(std::vector<std::filesystem::path> folders, OnChange on_change,
                 std::chrono::milliseconds debounce = std::chrono::milliseconds(200), OnError on_error = {});
  ~PluginDirWatch();
  PluginDirWatch(const PluginDirWatch&) = delete;
  PluginDirWatch& operator=(const PluginDirWatch&) = delete;

 private:
  void run();

  std::vector<std::filesystem::path> folders_;  // by watch descriptor - 1... see run()
  std::vector<int> watches_;
  OnChange on_change_;
  OnError on_error_;
  std::chrono::milliseconds debounce_;
  int inotify_fd_ = -1;
  int stop_fd_ = -1;
  std::thread thread_;
};

}  // namespace posthog::server
