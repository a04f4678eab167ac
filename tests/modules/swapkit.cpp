// The plugin the hot-swap tests swap: every build is called "swapkit" and
// stamps its version into each event (properties.swapkit_version), and the
// CLOCK_MONOTONIC time its instance was set up (swapkit_instance_ns), so a
// test can tell which version, and which instance of it, processed an event. SWAPKIT_VERSION sets the
// version; one BREAK_* definition makes a build the server must refuse:
//   BREAK_ABI_MAJOR       a descriptor for another ABI
//   BREAK_NO_ENTRY        no entry symbol
//   BREAK_SETUP_INSTANCE  setup_instance throws
//   BREAK_STRICT_SCHEMA   a required config field the teams do not set
// Like broken_module.cpp it writes its descriptor by hand, so any field of it
// can be falsified.
#include <posthog/plugin.hpp>

#include <time.h>

#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>

#ifndef SWAPKIT_VERSION
#error "SWAPKIT_VERSION must be defined"
#endif

namespace {

struct State {
  std::int64_t started_ns = 0;
};

struct Swapkit {
  static std::shared_ptr<State> setup_instance(posthog::InstanceContext&) {
#if defined(BREAK_SETUP_INSTANCE)
    throw std::runtime_error("swapkit " SWAPKIT_VERSION " cannot start: its model file is missing");
#endif
    timespec now{};
    clock_gettime(CLOCK_MONOTONIC, &now);
    return std::make_shared<State>(State{now.tv_sec * 1'000'000'000ll + now.tv_nsec});
  }
  Swapkit(posthog::TeamContext&, State& state) : started_ns_(state.started_ns) {}

  bool process_event(posthog::Event& event, posthog::Meta&) {
    auto& properties = event.properties();
    properties["swapkit_version"] = SWAPKIT_VERSION;
    properties["swapkit_instance_ns"] = started_ns_;
    return true;
  }

 private:
  std::int64_t started_ns_;
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
