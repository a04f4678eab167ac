// The plugin the hot-swap tests swap: every build is called "swapkit" and
// stamps its version into each event (properties.swapkit_version), so a test
// can tell which version processed which event. SWAPKIT_VERSION sets the
// version; one BREAK_* definition makes a build the server must refuse:
//   BREAK_ABI_MAJOR       a descriptor for another ABI
//   BREAK_NO_ENTRY        no entry symbol
//   BREAK_SETUP_INSTANCE  setup_instance throws
//   BREAK_STRICT_SCHEMA   a required config field the teams do not set
// Like broken_module.cpp it writes its descriptor by hand, so any field of it
// can be falsified.
#include <posthog/plugin.hpp>

#include <memory>
#include <stdexcept>
#include <string>

#ifndef SWAPKIT_VERSION
#error "SWAPKIT_VERSION must be defined"
#endif

namespace {

struct State {
  int unused = 0;
};

struct Swapkit {
#if defined(BREAK_SETUP_INSTANCE)
  static std::shared_ptr<State> setup_instance(posthog::InstanceContext&) {
    throw std::runtime_error("swapkit " SWAPKIT_VERSION " cannot start: its model file is missing");
  }
#endif
  bool process_event(posthog::Event& event, posthog::Meta&) {
    event.properties()["swapkit_version"] = SWAPKIT_VERSION;
    return true;
  }
};

#if defined(BREAK_STRICT_SCHEMA)
#define SWAPKIT_CONFIG \
  "[{\"key\": \"label\", \"type\": \"string\"}, {\"key\": \"region\", \"type\": \"string\", \"required\": true}]"
#else
#define SWAPKIT_CONFIG "[{\"key\": \"label\", \"type\": \"string\"}]"
#endif
#define SWAPKIT_MANIFEST \
  "{\"name\": \"swapkit\", \"version\": \"" SWAPKIT_VERSION "\", \"config\": " SWAPKIT_CONFIG "}"

consteval auto make() {
  auto d = posthog::detail::make_descriptor<Swapkit>("swapkit", SWAPKIT_VERSION, SWAPKIT_MANIFEST);
#if defined(BREAK_ABI_MAJOR)
  d.header.abi_major = POSTHOG_ABI_MAJOR + 1;
#endif
  return d;
}

[[gnu::section(POSTHOG_DESCRIPTOR_SECTION), gnu::used]] constinit const auto descriptor = make();

}  // namespace

extern "C" [[gnu::visibility("default")]] const posthog_plugin_descriptor* posthog_plugin_descriptor_v1(void) {
  return &descriptor.header;
}

#if !defined(BREAK_NO_ENTRY)
extern "C" [[gnu::visibility("default")]] const posthog_plugin_vtable* posthog_plugin_entry_v1(
    const posthog_host_api*) {
  return &posthog::detail::Module<Swapkit>::vtable;
}
#endif
