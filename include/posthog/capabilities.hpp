// posthog/capabilities.hpp: which hooks a plugin class has, found at compile time.
//
// A hook the class does not define is a capability it does not have: the module
// publishes the bits in its descriptor and the server never routes that kind of
// work to it. The shapes recognised:
//
//   static std::shared_ptr<State> setup_instance(posthog::InstanceContext&);  // or unique_ptr
//   explicit MyPlugin(posthog::TeamContext&, State&);   // or (TeamContext&), or ()
//   bool process_event(posthog::Event&, posthog::Meta&);  // false drops; void keeps;
//                                                         // noexcept: no undo snapshot
//   void on_event(const posthog::Event&, posthog::Meta&);
//   void export_events(std::span<const posthog::Event>, posthog::Meta&);
//   void run_every_minute(posthog::Meta&);  // and run_every_hour, run_every_day
//   void teardown(posthog::Meta&);          // or teardown()
//   static constexpr posthog::Job<MyPlugin> jobs[] = {{"sync", &MyPlugin::sync}};
//       // each handler: void sync(const boost::json::value& payload, posthog::Meta&)
//   static constexpr posthog::MetricDeclaration metrics[] = {{"requests", posthog::MetricKind::sum}};
//
//   static_assert(posthog::capabilities_of<MyPlugin>() & POSTHOG_CAP_PROCESS_EVENT);
#pragma once

#include <concepts>
#include <cstdint>
#include <memory>
#include <span>
#include <string_view>
#include <type_traits>

#include <boost/json/value.hpp>

#include "abi.h"
#include "event.hpp"
#include "meta.hpp"

namespace posthog {

template <class P>
concept HasSetupInstance = requires(InstanceContext& c) {
  { P::setup_instance(c) };
  typename std::remove_cvref_t<decltype(P::setup_instance(c))>::element_type;
};

template <class P>
concept HasProcessEvent = requires(P& p, Event& e, Meta& m) { p.process_event(e, m); };
// Declaring process_event noexcept is a promise that it cannot fail; the server
// then skips the per-event snapshot it takes to undo a throwing plugin's writes.
template <class P>
concept HasNoexceptProcessEvent =
    requires(P& p, Event& e, Meta& m) { requires noexcept(p.process_event(e, m)); };
template <class P>
concept HasOnEvent = requires(P& p, const Event& e, Meta& m) { p.on_event(e, m); };
template <class P>
concept HasExportEvents = requires(P& p, std::span<const Event> batch, Meta& m) { p.export_events(batch, m); };
template <class P>
concept HasRunEveryMinute = requires(P& p, Meta& m) { p.run_every_minute(m); };
template <class P>
concept HasRunEveryHour = requires(P& p, Meta& m) { p.run_every_hour(m); };
template <class P>
concept HasRunEveryDay = requires(P& p, Meta& m) { p.run_every_day(m); };
// A job handler: queued with meta.jobs("name", payload), run with the payload.
template <class P>
struct Job {
  std::string_view name;
  void (P::*run)(const boost::json::value& payload, Meta& meta);
};
template <class P>
concept HasJobs = requires { std::span<const Job<P>>(P::jobs); };

// A metric the plugin declares (PostHog's `export const metrics = {name: 'sum'}`),
// updated with meta.metrics("name").increment(n), .max(n) or .min(n).
enum class MetricKind : std::int32_t { sum = POSTHOG_METRIC_SUM, max = POSTHOG_METRIC_MAX, min = POSTHOG_METRIC_MIN };
struct MetricDeclaration {
  std::string_view name;
  MetricKind kind;
};
template <class P>
concept HasMetrics = requires { std::span<const MetricDeclaration>(P::metrics); };

template <class P>
concept HasTeardown = requires(P& p, Meta& m) { p.teardown(m); } || requires(P& p) { p.teardown(); };

namespace detail {
template <class P>
struct InstanceStateTraits {
  struct None {};
  using type = None;
};
template <HasSetupInstance P>
struct InstanceStateTraits<P> {
  using type = typename std::remove_cvref_t<decltype(P::setup_instance(std::declval<InstanceContext&>()))>::element_type;
};
}  // namespace detail

// The shared state type returned by P::setup_instance, or an empty tag.
template <class P>
using InstanceStateOf = typename detail::InstanceStateTraits<P>::type;

template <class P>
constexpr std::uint64_t capabilities_of() noexcept {
  std::uint64_t caps = 0;
  if constexpr (HasSetupInstance<P>) caps |= POSTHOG_CAP_SETUP_INSTANCE;
  if constexpr (HasProcessEvent<P>) caps |= POSTHOG_CAP_PROCESS_EVENT;
  if constexpr (HasNoexceptProcessEvent<P>) caps |= POSTHOG_CAP_PROCESS_EVENT_NOEXCEPT;
  if constexpr (HasOnEvent<P>) caps |= POSTHOG_CAP_ON_EVENT;
  if constexpr (HasExportEvents<P>) caps |= POSTHOG_CAP_EXPORT_EVENTS;
  if constexpr (HasRunEveryMinute<P>) caps |= POSTHOG_CAP_RUN_EVERY_MINUTE;
  if constexpr (HasRunEveryHour<P>) caps |= POSTHOG_CAP_RUN_EVERY_HOUR;
  if constexpr (HasRunEveryDay<P>) caps |= POSTHOG_CAP_RUN_EVERY_DAY;
  if constexpr (HasTeardown<P>) caps |= POSTHOG_CAP_TEARDOWN;
  if constexpr (HasJobs<P>) caps |= POSTHOG_CAP_JOBS;
  if constexpr (HasMetrics<P>) caps |= POSTHOG_CAP_METRICS;
  return caps;
}

}  // namespace posthog
