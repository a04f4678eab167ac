// A module built wrong on purpose, one way per BREAK_* definition, to test each
// refusal of the loader. It uses abi.h and the SDK's adapters directly instead of
// POSTHOG_PLUGIN() so that any field of its descriptor can be falsified.
#include <posthog/plugin.hpp>

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
  bool process_event(posthog::Event&, posthog::Meta&) { return true; }
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
  return &posthog::detail::Module<Broken>::vtable;
}
#endif

#if defined(BREAK_UNDEFINED_SYMBOL)
extern "C" void posthog_test_symbol_that_nobody_defines(void);
extern "C" [[gnu::visibility("default")]] void posthog_test_calls_missing(void) {
  posthog_test_symbol_that_nobody_defines();
}
#endif
