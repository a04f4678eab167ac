// PluginModule: one loaded .so, checked before any of its code runs.
//
// Loading order (each step refuses with a LoadError naming the step):
//   0. copy the file to a private image (module_image.hpp): what is mapped
//      can never be changed under the server's feet;
//   1. read the descriptor section from the file (elf_section.hpp) and check it
//      field by field against this server (module_descriptor.hpp);
//   2. dlopen with RTLD_NOW | RTLD_LOCAL | RTLD_NODELETE;
//   3. find both entry symbols and check that the descriptor the code returns is
//      the one the file carries;
//   4. parse the embedded plugin.json;
//   5. call the entry function for the hook table and check its size;
//   6. check that the descriptor's capability bits and the table name the
//      same hooks (hook_capabilities.hpp).
//
// Modules are never unmapped (RTLD_NODELETE, and the handle is kept): C++ plugins
// leave thread-locals, static destructors and atexit handlers behind, which make
// dlclose the classic crash. See docs/design-notes.md.
#pragma once

#include <posthog/abi.h>
#include <posthog/manifest.hpp>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "metrics/declared_metrics.hpp"
#include "hook_capabilities.hpp"
#include "module_descriptor.hpp"
#include "module_image.hpp"

namespace posthog::server {

class PluginModule {
 public:
  // Throws LoadError.
  // `host` is the table handed to the module's entry function (the plugin
  // host's, host/plugin_scope.hpp): passed in, so loading knows nothing of it.
  static std::shared_ptr<PluginModule> load(const std::filesystem::path& file, const posthog_host_api* host);
  // The same from an image already copied (to look at its hash first).
  static std::shared_ptr<PluginModule> load(const std::filesystem::path& file, const ModuleImage& image,
                                            const posthog_host_api* host);
  // Images this process has mapped: never unmapped, so this only grows.
  static std::uint64_t mapped_images() noexcept;

  const std::string& file() const noexcept { return file_; }
  const ModuleDescriptor& descriptor() const noexcept { return descriptor_; }
  const posthog::Manifest& manifest() const noexcept { return manifest_; }
  const std::string& name() const noexcept { return descriptor_.name; }
  const std::string& version() const noexcept { return descriptor_.version; }
  std::uint64_t capabilities() const noexcept { return descriptor_.header.capabilities; }
  bool has(std::uint64_t capability) const noexcept { return (capabilities() & capability) != 0; }
  const posthog_plugin_vtable& vtable() const noexcept { return *vtable_; }
  // The job handlers the module declares (meta.jobs accepts only these).
  const std::vector<std::string>& job_names() const noexcept { return job_names_; }
  bool runs_jobs() const noexcept { return has_hook(&posthog_plugin_vtable::run_job); }
  // The metrics the module declares (meta.metrics accepts only these, with their kinds).
  struct MetricDeclaration {
    std::string name;
    MetricKind kind;
  };
  const std::vector<MetricDeclaration>& declared_metrics() const noexcept { return metrics_; }
  // Of the file's bytes when loaded (module_image.hpp).
  const std::string& content_hash() const noexcept { return content_hash_; }
  std::chrono::system_clock::time_point loaded_at() const noexcept { return loaded_at_; }

  // True when the hook at `member` fits in the module's table and is set. The
  // loader refused the module unless its capability bits say the same.
  template <class Fn>
  bool has_hook(Fn posthog_plugin_vtable::*member) const noexcept {
    return hook_present(*vtable_, member);
  }

 private:
  PluginModule() = default;
  void load_code(const std::string& copy, const std::vector<unsigned char>& descriptor_bytes,
                 const posthog_host_api* host);
  std::string file_;
  std::string content_hash_;
  std::chrono::system_clock::time_point loaded_at_;
  void* handle_ = nullptr;
  ModuleDescriptor descriptor_;
  posthog::Manifest manifest_;
  const posthog_plugin_vtable* vtable_ = nullptr;
  std::vector<std::string> job_names_;
  std::vector<MetricDeclaration> metrics_;
};

// One module per file identity (device + inode) and never two of one name.
class ModuleRegistry {
 public:
  explicit ModuleRegistry(const posthog_host_api* host) noexcept : host_(host) {}
  // The module at `file`, loading it on first use. Throws LoadError.
  std::shared_ptr<PluginModule> load(const std::filesystem::path& file);

 private:
  const posthog_host_api* host_;
  std::mutex mutex_;
  std::map<std::pair<std::uint64_t, std::uint64_t>, std::shared_ptr<PluginModule>> by_identity_;
  std::map<std::string, std::shared_ptr<PluginModule>> by_name_;
};

}  // namespace posthog::server
