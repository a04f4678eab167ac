// A module built wrong on purpose, one way per BREAK_* definition, to test each
// refusal of the loader. It uses abi.h and the SDK's adapters directly instead of
// POSTHOG_PLUGIN() so that any field of its descriptor can be falsified.
//
// BUILT_FOR_ABI_1_3 is not broken: it is the module today's SDK built before
// ABI 1.4, with the descriptor and hook table of 1.3 (frozen below), which a
// 1.4 server must still load. OTHER_SDK_MINOR is built by an SDK of another
// minor release with the same ABI, which loads too (the SDK version gates
// nothing).
#include <posthog/plugin.hpp>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <stdexcept>

#ifndef MODULE_NAME
#error "MODULE_NAME must be defined"
#endif

namespace {

struct State {
  int unused = 0;
};

struct Broken {
#if defined(BREAK_SETUP_INSTANCE)
  static std::shared_ptr<State> setup_instance(posthog::InstanceContext&) {
    throw std::runtime_error("cannot open /nonexistent/GeoLite2-City.mmdb");
  }
#endif
#if defined(BREAK_SETUP_TEAM)
  explicit Broken(posthog::TeamContext& team) {
    throw std::invalid_argument("team " + std::to_string(team.team_id) + " has no API key");
  }
#endif
  bool process_event(posthog::Event& e, posthog::Meta&) {
    e.properties()["processed_by"] = MODULE_NAME;
    return true;
  }
#if defined(BREAK_JOB_NAME)
  void job(const boost::json::value&, posthog::Meta&) {}
  static constexpr posthog::Job<Broken> jobs[] = {{"$run_every_minute", &Broken::job}};
#endif
#if defined(BREAK_METRICS)
  // PostHog refused a metric that is not 'sum', 'max' or 'min' (extensions/metrics.ts).
  static constexpr posthog::MetricDeclaration metrics[] = {
      {"requests", posthog::MetricKind::sum}, {"p99", static_cast<posthog::MetricKind>(7)}, {"requests", posthog::MetricKind::max}};
#endif
};

#if defined(BREAK_MANIFEST)
#define MANIFEST "{\"name\": \"" MODULE_NAME "\", \"version\": \"1.0.0\", \"config\": [{\"key\": \"x\", \"type\": \"number\"}]}"
#else
#define MANIFEST "{\"name\": \"" MODULE_NAME "\", \"version\": \"1.0.0\"}"
#endif

#if defined(BUILT_FOR_ABI_1_3)
// The 1.3 layout, frozen: later minors may grow the descriptor and the hook
// table at their ends; this module keeps the sizes it had, so it goes on
// testing what a 1.3 module is.
namespace abi_1_3 {
constexpr std::uint32_t descriptor_header_size = 88;  // through manifest_size
static_assert(offsetof(posthog_plugin_descriptor, capabilities) == 56 &&
                  offsetof(posthog_plugin_descriptor, manifest_size) == 84,
              "the 1.3 descriptor's fields moved: that is an ABI major change");
constexpr std::uint32_t vtable_size = 112;  // through declared_metrics
static_assert(offsetof(posthog_plugin_vtable, declared_metrics) == 104,
              "the 1.3 hook table's slots moved: that is an ABI major change");
constexpr posthog_plugin_vtable vtable = [] {
  auto v = posthog::detail::Module<Broken>::vtable;
  v.size = vtable_size;
  return v;
}();
}  // namespace abi_1_3
#endif

consteval auto make() {
  auto d = posthog::detail::make_descriptor<Broken>(MODULE_NAME, "1.0.0", MANIFEST);
#if defined(BREAK_MAGIC)
  d.header.magic = 0x0123456789abcdefull;
#endif
#if defined(BREAK_ABI_MAJOR)
  d.header.abi_major = POSTHOG_ABI_MAJOR + 98;
#endif
#if defined(BREAK_ABI_MINOR)
  d.header.abi_minor = POSTHOG_ABI_MINOR + 1;
#endif
#if defined(BREAK_FINGERPRINT)
  d.header.build.boost_version = 107400;
  d.header.build.compiler_major = 99;
#endif
#if defined(BREAK_HEADER_SIZE)
  d.header.header_size = 40;  // cuts the header before the build fingerprint
#endif
#if defined(BREAK_CAPABILITIES)
  // Says on_event and metrics, which the class does not have; leaves out its process_event.
  d.header.capabilities = (d.header.capabilities | POSTHOG_CAP_ON_EVENT | POSTHOG_CAP_METRICS) &
                          ~std::uint64_t(POSTHOG_CAP_PROCESS_EVENT);
#endif
#if defined(BUILT_FOR_ABI_1_3)
  d.header.abi_minor = 3;
  d.header.abi_header_hash = 0x53eafd58283917e3ull;  // abi.h as released at 1.3
  d.header.header_size = abi_1_3::descriptor_header_size;
  d.header.build.sdk_version = 100;  // SDK 0.1.0
#endif
#if defined(OTHER_SDK_MINOR)
  d.header.build.sdk_version = posthog::sdk_version + 100;
#endif
  return d;
}

[[gnu::section(POSTHOG_DESCRIPTOR_SECTION), gnu::used]] constinit const auto descriptor = make();

}  // namespace

extern "C" [[gnu::visibility("default")]] const posthog_plugin_descriptor* posthog_plugin_descriptor_v1(void) {
  return &descriptor.header;
}

#if defined(BUILT_FOR_ABI_1_3)
extern "C" [[gnu::visibility("default")]] const posthog_plugin_vtable* posthog_plugin_entry_v1(
    const posthog_host_api* host) {
  return host && host->abi_major == 1 ? &abi_1_3::vtable : nullptr;
}
#elif !defined(BREAK_NO_ENTRY)
extern "C" [[gnu::visibility("default")]] const posthog_plugin_vtable* posthog_plugin_entry_v1(
    const posthog_host_api*) {
  return &posthog::detail::Module<Broken>::vtable;
}
#endif

#if defined(BREAK_UNDEFINED_SYMBOL)
extern "C" void posthog_test_symbol_that_nobody_defines(void);
extern "C" [[gnu::visibility("default")]] void posthog_test_calls_missing(void) {
  posthog_test_symbol_that_nobody_defines();
}
#endif
