#include "plugin_module.hpp"

#include <dlfcn.h>
#include <sys/stat.h>

#include <atomic>
#include <cstring>
#include <optional>

#include "elf_section.hpp"
#include "common/load_error.hpp"
#include "module_image.hpp"

namespace posthog::server {

namespace {

// Errors found in the private copy are reported against the user's file.
[[noreturn]] void rethrow_for(const LoadError& e, const std::string& file, const std::string& copy) {
  auto details = e.details();
  for (auto& d : details)
    for (auto at = d.find(copy); at != std::string::npos; at = d.find(copy, at + file.size()))
      d.replace(at, copy.size(), file);
  throw LoadError(file, e.step(), std::move(details), e.field());
}

std::atomic<std::uint64_t> mapped_count{0};

}  // namespace

std::shared_ptr<PluginModule> PluginModule::load(const std::filesystem::path& path, const posthog_host_api* host) {
  ModuleImage image(path);
  return load(path, image, host);
}

std::uint64_t PluginModule::mapped_images() noexcept { return mapped_count.load(); }

std::shared_ptr<PluginModule> PluginModule::load(const std::filesystem::path& path, const ModuleImage& image,
                                                 const posthog_host_api* host) {
  std::string const file = path.string();
  std::string const copy = image.path().string();
  std::shared_ptr<PluginModule> m(new PluginModule());
  m->file_ = file;
  m->content_hash_ = image.content_hash();
  m->loaded_at_ = std::chrono::system_clock::now();
  try {
    auto const bytes = read_elf_section(copy, POSTHOG_DESCRIPTOR_SECTION);
    m->descriptor_ = decode_descriptor(file, bytes);
    m->load_code(copy, bytes, host);
  } catch (const LoadError& e) {
    if (e.file() == copy || e.file() == file) rethrow_for(e, file, copy);
    throw;
  }
  return m;
}

void PluginModule::load_code(const std::string& copy, const std::vector<unsigned char>& bytes,
                             const posthog_host_api* host) {
  std::string const& file = file_;
  dlerror();
  handle_ = ::dlopen(copy.c_str(), RTLD_NOW | RTLD_LOCAL | RTLD_NODELETE);
  if (!handle_) {
    const char* why = dlerror();
    throw LoadError(copy, LoadStep::dlopen, {std::string("dlopen: ") + (why ? why : "unknown error")});
  }
  mapped_count.fetch_add(1);
  auto* descriptor_fn = reinterpret_cast<posthog_descriptor_fn>(::dlsym(handle_, POSTHOG_DESCRIPTOR_SYMBOL));
  auto* entry_fn = reinterpret_cast<posthog_entry_fn>(::dlsym(handle_, POSTHOG_ENTRY_SYMBOL));
  if (!descriptor_fn || !entry_fn)
    throw LoadError(file, LoadStep::entry_symbol,
                    {std::string("no exported symbol ") + (!descriptor_fn ? POSTHOG_DESCRIPTOR_SYMBOL : POSTHOG_ENTRY_SYMBOL) +
                     ": the module was not built with POSTHOG_PLUGIN(Class), or its version script hides it"});
  const posthog_plugin_descriptor* live = descriptor_fn();
  if (!live || live->size > bytes.size() || std::memcmp(live, bytes.data(), live->size) != 0)
    throw LoadError(file, LoadStep::entry_symbol,
                    {"the descriptor returned by " POSTHOG_DESCRIPTOR_SYMBOL
                     "() differs from the one in the file's " POSTHOG_DESCRIPTOR_SECTION " section"});

  try {
    manifest_ = posthog::Manifest::parse(descriptor_.manifest);
  } catch (const posthog::ManifestError& e) {
    throw LoadError(file, LoadStep::manifest, {e.what()}, e.field());
  }
  if (has(POSTHOG_CAP_EXPORT_EVENTS)) manifest_.add_export_fields();
  if (manifest_.name != descriptor_.name || manifest_.version != descriptor_.version)
    throw LoadError(file, LoadStep::manifest,
                    {"descriptor says " + descriptor_.name + " " + descriptor_.version + ", plugin.json says " +
                     manifest_.name + " " + manifest_.version});

  vtable_ = entry_fn(host);
  if (!vtable_)
    throw LoadError(file, LoadStep::entry_symbol, {POSTHOG_ENTRY_SYMBOL "() refused this server's host API"});
  constexpr std::size_t required = offsetof(posthog_plugin_vtable, process_event);
  if (vtable_->size < required || !vtable_->setup_instance || !vtable_->teardown_instance ||
      !vtable_->setup_team || !vtable_->teardown_team)
    throw LoadError(file, LoadStep::entry_symbol,
                    {"hook table of " + std::to_string(vtable_->size) + " bytes lacks the setup/teardown hooks"});
  if (has_hook(&posthog_plugin_vtable::job_names)) {
    vtable_->job_names(
        [](void* user, const char* name, size_t size) {
          static_cast<std::vector<std::string>*>(user)->emplace_back(name, size);
        },
        &job_names_);
    for (auto const& name : job_names_)
      if (name.empty() || name.front() == '$')
        throw LoadError(file, LoadStep::manifest,
                        {"job name '" + name + "' is reserved: names starting with '$' are the server's"});
  }
  if (has_hook(&posthog_plugin_vtable::declared_metrics)) {
    struct Declared {
      std::vector<MetricDeclaration>& out;
      std::vector<std::string> refusals;
    } declared{metrics_, {}};
    vtable_->declared_metrics(
        [](void* user, const char* name, size_t size, int32_t kind) {
          auto& d = *static_cast<Declared*>(user);
          std::string n(name, size);
          // PostHog: "Only 'sum', 'max', and 'min' are supported" (extensions/metrics.ts).
          std::optional<MetricKind> k;
          switch (kind) {
            case POSTHOG_METRIC_SUM: k = MetricKind::sum; break;
            case POSTHOG_METRIC_MAX: k = MetricKind::max; break;
            case POSTHOG_METRIC_MIN: k = MetricKind::min; break;
            default: break;
          }
          if (n.empty() || !k) d.refusals.push_back("metric '" + n + "': only sum, max and min are supported, and a name");
          for (auto const& m : d.out)
            if (m.name == n) d.refusals.push_back("metric '" + n + "' is declared twice");
          if (k) d.out.push_back({std::move(n), *k});
        },
        &declared);
    if (!declared.refusals.empty()) throw LoadError(file, LoadStep::manifest, declared.refusals, "metrics");
  }
  if (auto disagreements = capability_disagreements(capabilities(), *vtable_, metrics_.size()); !disagreements.empty())
    throw LoadError(file, LoadStep::capabilities, std::move(disagreements));
}

std::shared_ptr<PluginModule> ModuleRegistry::load(const std::filesystem::path& file) {
  struct stat st {};
  if (::stat(file.c_str(), &st) != 0)
    throw LoadError(file.string(), LoadStep::file, {std::string("cannot stat: ") + std::strerror(errno)});
  std::pair<std::uint64_t, std::uint64_t> identity{st.st_dev, st.st_ino};
  std::lock_guard lock(mutex_);
  if (auto it = by_identity_.find(identity); it != by_identity_.end()) return it->second;
  auto module = PluginModule::load(file, host_);
  if (auto it = by_name_.find(module->name()); it != by_name_.end())
    throw LoadError(file.string(), LoadStep::manifest,
                    {"a module named '" + module->name() + "' is already loaded from " + it->second->file()});
  by_identity_[identity] = module;
  by_name_[module->name()] = module;
  return module;
}

}  // namespace posthog::server
