#include "plugin_module.hpp"

#include <dlfcn.h>
#include <sys/stat.h>

#include <cstring>

#include "elf_section.hpp"
#include "load_error.hpp"
#include "plugin_scope.hpp"

namespace posthog::server {

std::shared_ptr<PluginModule> PluginModule::load(const std::filesystem::path& path) {
  std::string const file = path.string();
  auto const bytes = read_elf_section(file, POSTHOG_DESCRIPTOR_SECTION);
  std::shared_ptr<PluginModule> m(new PluginModule());
  m->file_ = file;
  m->descriptor_ = decode_descriptor(file, bytes);

  dlerror();
  m->handle_ = ::dlopen(file.c_str(), RTLD_NOW | RTLD_LOCAL | RTLD_NODELETE);
  if (!m->handle_) {
    const char* why = dlerror();
    throw LoadError(file, LoadStep::dlopen, {std::string("dlopen: ") + (why ? why : "unknown error")});
  }
  auto* descriptor_fn = reinterpret_cast<posthog_descriptor_fn>(::dlsym(m->handle_, POSTHOG_DESCRIPTOR_SYMBOL));
  auto* entry_fn = reinterpret_cast<posthog_entry_fn>(::dlsym(m->handle_, POSTHOG_ENTRY_SYMBOL));
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
    m->manifest_ = posthog::Manifest::parse(m->descriptor_.manifest);
  } catch (const posthog::ManifestError& e) {
    throw LoadError(file, LoadStep::manifest, {e.what()}, e.field());
  }
  if (m->manifest_.name != m->descriptor_.name || m->manifest_.version != m->descriptor_.version)
    throw LoadError(file, LoadStep::manifest,
                    {"descriptor says " + m->descriptor_.name + " " + m->descriptor_.version + ", plugin.json says " +
                     m->manifest_.name + " " + m->manifest_.version});

  m->vtable_ = entry_fn(host_api());
  if (!m->vtable_)
    throw LoadError(file, LoadStep::entry_symbol, {POSTHOG_ENTRY_SYMBOL "() refused this server's host API"});
  constexpr std::size_t required = offsetof(posthog_plugin_vtable, process_event);
  if (m->vtable_->size < required || !m->vtable_->setup_instance || !m->vtable_->teardown_instance ||
      !m->vtable_->setup_team || !m->vtable_->teardown_team)
    throw LoadError(file, LoadStep::entry_symbol,
                    {"hook table of " + std::to_string(m->vtable_->size) + " bytes lacks the setup/teardown hooks"});
  return m;
}

std::shared_ptr<PluginModule> ModuleRegistry::load(const std::filesystem::path& file) {
  struct stat st {};
  if (::stat(file.c_str(), &st) != 0)
    throw LoadError(file.string(), LoadStep::file, {std::string("cannot stat: ") + std::strerror(errno)});
  std::pair<std::uint64_t, std::uint64_t> identity{st.st_dev, st.st_ino};
  std::lock_guard lock(mutex_);
  if (auto it = by_identity_.find(identity); it != by_identity_.end()) return it->second;
  auto module = PluginModule::load(file);
  if (auto it = by_name_.find(module->name()); it != by_name_.end())
    throw LoadError(file.string(), LoadStep::manifest,
                    {"a module named '" + module->name() + "' is already loaded from " + it->second->file()});
  by_identity_[identity] = module;
  by_name_[module->name()] = module;
  return module;
}

}  // namespace posthog::server
