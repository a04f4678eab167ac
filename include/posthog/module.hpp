// posthog/module.hpp: POSTHOG_PLUGIN(Class), which turns a plugin class into a
// loadable module.
//
// The macro emits the two exported C symbols of abi.h, the static descriptor
// (in the ELF section the loader reads before running any code) and, for every
// hook the class defines, an adapter that converts C arguments to C++ views and
// catches every exception on the plugin's side of the line, returning a status
// plus the message. Build the file with posthog_add_plugin() so that the
// manifest (plugin.json) is embedded:
//
//   #include <posthog/plugin.hpp>
//   struct Hello {
//     bool process_event(posthog::Event& e, posthog::Meta&) { e.properties()["hello"] = "world"; return true; }
//   };
//   POSTHOG_PLUGIN(Hello)
#pragma once

#include <cstddef>
#include <cstdio>
#include <cstring>
#include <exception>
#include <memory>
#include <span>
#include <string>
#include <system_error>
#include <typeinfo>
#include <utility>
#include <vector>

#include <cxxabi.h>

#include <boost/json/parse.hpp>

#include "abi.h"
#include "capabilities.hpp"
#include "config.hpp"
#include "errors.hpp"
#include "event.hpp"
#include "meta.hpp"
#include "version.hpp"

#if defined(POSTHOG_PLUGIN_MANIFEST_HEADER)
#include POSTHOG_PLUGIN_MANIFEST_HEADER
#endif

namespace posthog::detail {

inline void fill_error(posthog_error* error, const char* kind, const char* message) noexcept {
  if (!error) return;
  std::snprintf(error->kind, sizeof error->kind, "%s", kind);
  std::snprintf(error->message, sizeof error->message, "%s", message);
}

inline std::string exception_type_name(const std::exception& e) {
  int status = 0;
  std::unique_ptr<char, void (*)(void*)> name(abi::__cxa_demangle(typeid(e).name(), nullptr, nullptr, &status),
                                              std::free);
  return status == 0 && name ? std::string(name.get()) : std::string(typeid(e).name());
}

// Runs a hook body; no exception leaves it. The status tells the kind of failure.
template <class F>
posthog_status guarded(posthog_error* error, F&& body) noexcept {
  try {
    return body();
  } catch (const RetryError& e) {
    fill_error(error, "posthog::RetryError", e.what());
    return POSTHOG_RETRY_ERROR;
  } catch (const ConfigError& e) {
    fill_error(error, "posthog::ConfigError", e.what());
    return POSTHOG_CONFIG_ERROR;
  } catch (const std::exception& e) {
    try {
      fill_error(error, exception_type_name(e).c_str(), e.what());
    } catch (...) {  // demangling could not allocate: keep the message at least
      fill_error(error, "std::exception", e.what());
    }
    return POSTHOG_ERROR;
  } catch (...) {
    fill_error(error, "unknown", "an exception not derived from std::exception was thrown");
    return POSTHOG_ERROR;
  }
}

template <std::size_t NameN, std::size_t VersionN, std::size_t ManifestN>
struct DescriptorBlob {
  posthog_plugin_descriptor header;
  char name[NameN];
  char version[VersionN];
  char manifest[ManifestN];
};

template <class P, std::size_t NameN, std::size_t VersionN, std::size_t ManifestN>
consteval DescriptorBlob<NameN, VersionN, ManifestN> make_descriptor(const char (&name)[NameN],
                                                                     const char (&version)[VersionN],
                                                                     const char (&manifest)[ManifestN]) {
  using Blob = DescriptorBlob<NameN, VersionN, ManifestN>;
  Blob b{};
  b.header.size = sizeof(Blob);
  b.header.header_size = sizeof(posthog_plugin_descriptor);
  b.header.magic = POSTHOG_ABI_MAGIC;
  b.header.abi_major = POSTHOG_ABI_MAJOR;
  b.header.abi_minor = POSTHOG_ABI_MINOR;
  b.header.layout = layout_fingerprint();
  b.header.abi_header_hash = POSTHOG_ABI_HEADER_HASH;
  b.header.build = build_fingerprint();
  b.header.capabilities = capabilities_of<P>();
  b.header.name_offset = offsetof(Blob, name);
  b.header.name_size = NameN - 1;
  b.header.version_offset = offsetof(Blob, version);
  b.header.version_size = VersionN - 1;
  b.header.manifest_offset = offsetof(Blob, manifest);
  b.header.manifest_size = ManifestN - 1;
  for (std::size_t i = 0; i < NameN; ++i) b.name[i] = name[i];
  for (std::size_t i = 0; i < VersionN; ++i) b.version[i] = version[i];
  for (std::size_t i = 0; i < ManifestN; ++i) b.manifest[i] = manifest[i];
  return b;
}

// The adapters of one plugin class: C calls in, C++ calls out.
template <class P>
struct Module {
  using State = InstanceStateOf<P>;

  struct Instance {
    std::shared_ptr<State> state;
  };

  struct Team {
    Config config;
    Global global;  // before the plugin: its constructor may use meta.global
    P plugin;

    Team(Instance& instance, const posthog_team_setup& setup, boost::json::object values)
        : config(std::move(values)), plugin(construct(instance, setup, config, global)) {}

    static P construct(Instance& instance, const posthog_team_setup& setup, const Config& config, Global& global) {
      Meta meta(setup.meta, config, global);
      TeamContext ctx{setup.team_id, config, meta};
      if constexpr (HasSetupInstance<P> && std::is_constructible_v<P, TeamContext&, State&>) {
        return P(ctx, *instance.state);
      } else if constexpr (std::is_constructible_v<P, TeamContext&>) {
        (void)instance;
        return P(ctx);
      } else {
        static_assert(std::is_default_constructible_v<P>,
                      "a plugin class needs a constructor (TeamContext&, State&), (TeamContext&) or ()");
        (void)instance;
        (void)ctx;
        return P();
      }
    }
  };

  static Team& team(posthog_team* t) noexcept { return *reinterpret_cast<Team*>(t); }

  static posthog_status setup_instance(const char* settings, std::size_t size, posthog_instance** out,
                                       posthog_error* error) noexcept {
    return guarded(error, [&] {
      auto instance = std::make_unique<Instance>();
      if constexpr (HasSetupInstance<P>) {
        boost::json::object parsed;
        if (size) {
          std::error_code ec;
          auto v = boost::json::parse(std::string_view(settings, size), ec);
          if (ec || !v.is_object()) throw ConfigError("settings", "instance settings must be a JSON object");
          parsed = std::move(v.get_object());
        }
        InstanceContext ctx{parsed};
        instance->state = std::shared_ptr<State>(P::setup_instance(ctx));
        if (!instance->state) throw std::runtime_error("setup_instance returned no state");
      }
      *out = reinterpret_cast<posthog_instance*>(instance.release());
      return POSTHOG_OK;
    });
  }

  static posthog_status teardown_instance(posthog_instance* instance, posthog_error* error) noexcept {
    return guarded(error, [&] {
      delete reinterpret_cast<Instance*>(instance);
      return POSTHOG_OK;
    });
  }

  static posthog_status setup_team(posthog_instance* instance, const posthog_team_setup* setup, posthog_team** out,
                                   posthog_error* error) noexcept {
    return guarded(error, [&] {
      boost::json::object values;
      if (setup->config_json_size) {
        std::error_code ec;
        auto v = boost::json::parse(std::string_view(setup->config_json, setup->config_json_size), ec);
        if (ec || !v.is_object()) throw ConfigError("", "team config must be a JSON object");
        values = std::move(v.get_object());
      }
      auto* team = new Team(*reinterpret_cast<Instance*>(instance), *setup, std::move(values));
      *out = reinterpret_cast<posthog_team*>(team);
      return POSTHOG_OK;
    });
  }

  static posthog_status teardown_team(posthog_team* t, const posthog_meta* meta, posthog_error* error) noexcept {
    return guarded(error, [&] {
      std::unique_ptr<Team> owned(&team(t));
      if constexpr (requires(P& p, Meta& m) { p.teardown(m); }) {
        Meta m(meta, owned->config, owned->global);
        owned->plugin.teardown(m);
      } else if constexpr (requires(P& p) { p.teardown(); }) {
        (void)meta;
        owned->plugin.teardown();
      } else {
        (void)meta;
      }
      return POSTHOG_OK;
    });
  }

  static posthog_status process_event(posthog_team* t, void* event, const posthog_meta* meta,
                                      posthog_error* error) noexcept {
    return guarded(error, [&] {
      Team& tm = team(t);
      Event e(*static_cast<boost::json::object*>(event));
      Meta m(meta, tm.config, tm.global);
      using R = decltype(tm.plugin.process_event(e, m));
      if constexpr (std::is_void_v<R>) {
        tm.plugin.process_event(e, m);
        return POSTHOG_OK;
      } else {
        static_assert(std::is_convertible_v<R, bool>, "process_event must return bool (false drops) or void");
        return tm.plugin.process_event(e, m) ? POSTHOG_OK : POSTHOG_DROP;
      }
    });
  }

  static posthog_status on_event(posthog_team* t, const void* event, const posthog_meta* meta,
                                 posthog_error* error) noexcept {
    return guarded(error, [&] {
      Team& tm = team(t);
      const Event e(*static_cast<boost::json::object*>(const_cast<void*>(event)));
      Meta m(meta, tm.config, tm.global);
      tm.plugin.on_event(e, m);
      return POSTHOG_OK;
    });
  }

  static posthog_status export_events(posthog_team* t, const void* const* events, std::size_t count,
                                      const posthog_meta* meta, posthog_error* error) noexcept {
    return guarded(error, [&] {
      Team& tm = team(t);
      std::vector<Event> batch;
      batch.reserve(count);
      for (std::size_t i = 0; i < count; ++i)
        batch.emplace_back(*static_cast<boost::json::object*>(const_cast<void*>(events[i])));
      Meta m(meta, tm.config, tm.global);
      tm.plugin.export_events(std::span<const Event>(batch), m);
      return POSTHOG_OK;
    });
  }

  template <auto Hook>
  static posthog_status scheduled(posthog_team* t, const posthog_meta* meta, posthog_error* error) noexcept {
    return guarded(error, [&] {
      Team& tm = team(t);
      Meta m(meta, tm.config, tm.global);
      (tm.plugin.*Hook)(m);
      return POSTHOG_OK;
    });
  }

  static void job_names(posthog_bytes_sink sink, void* user) noexcept {
    if constexpr (HasJobs<P>)
      for (auto const& job : P::jobs) sink(user, job.name.data(), job.name.size());
  }

  static void declared_metrics(posthog_metric_sink sink, void* user) noexcept {
    if constexpr (HasMetrics<P>)
      for (auto const& m : P::metrics) sink(user, m.name.data(), m.name.size(), static_cast<std::int32_t>(m.kind));
  }

  static posthog_status run_job(posthog_team* t, const char* name, std::size_t name_size, const char* payload,
                                std::size_t payload_size, const posthog_meta* meta, posthog_error* error) noexcept {
    return guarded(error, [&] {
      if constexpr (HasJobs<P>) {
        std::string_view const wanted(name, name_size);
        for (auto const& job : P::jobs) {
          if (job.name != wanted) continue;
          boost::json::value value;
          if (payload_size) {
            std::error_code ec;
            value = boost::json::parse(std::string_view(payload, payload_size), ec);
            if (ec) throw std::invalid_argument("job '" + std::string(wanted) + "': the payload is not JSON");
          }
          Team& tm = team(t);
          Meta m(meta, tm.config, tm.global);
          (tm.plugin.*job.run)(value, m);
          return POSTHOG_OK;
        }
      }
      fill_error(error, "posthog::NotFound", ("no job named '" + std::string(name, name_size) + "'").c_str());
      return POSTHOG_NOT_FOUND;
    });
  }

  static constexpr posthog_plugin_vtable make_vtable() noexcept {
    posthog_plugin_vtable v{};
    v.size = sizeof(posthog_plugin_vtable);
    v.setup_instance = &setup_instance;
    v.teardown_instance = &teardown_instance;
    v.setup_team = &setup_team;
    v.teardown_team = &teardown_team;
    if constexpr (HasProcessEvent<P>) v.process_event = &process_event;
    if constexpr (HasOnEvent<P>) v.on_event = &on_event;
    if constexpr (HasExportEvents<P>) v.export_events = &export_events;
    if constexpr (HasRunEveryMinute<P>) v.run_every_minute = &scheduled<&P::run_every_minute>;
    if constexpr (HasRunEveryHour<P>) v.run_every_hour = &scheduled<&P::run_every_hour>;
    if constexpr (HasRunEveryDay<P>) v.run_every_day = &scheduled<&P::run_every_day>;
    v.job_names = &job_names;
    if constexpr (HasJobs<P>) v.run_job = &run_job;
    v.declared_metrics = &declared_metrics;
    return v;
  }

  static constexpr posthog_plugin_vtable vtable = make_vtable();
};

}  // namespace posthog::detail

#if defined(POSTHOG_PLUGIN_MANIFEST_JSON)
#define POSTHOG_PLUGIN(PluginClass)                                                                                  \
  namespace posthog_plugin_module {                                                                                \
  [[gnu::section(POSTHOG_DESCRIPTOR_SECTION), gnu::used]] constinit const auto descriptor =                      \
      ::posthog::detail::make_descriptor<PluginClass>(POSTHOG_PLUGIN_NAME, POSTHOG_PLUGIN_VERSION,                  \
                                                      POSTHOG_PLUGIN_MANIFEST_JSON);                                \
  }                                                                                                                \
  extern "C" [[gnu::visibility("default")]] const posthog_plugin_descriptor* posthog_plugin_descriptor_v1(void) { \
    return &posthog_plugin_module::descriptor.header;                                                              \
  }                                                                                                                \
  extern "C" [[gnu::visibility("default")]] const posthog_plugin_vtable* posthog_plugin_entry_v1(                 \
      const posthog_host_api* host) {                                                                              \
    if (!host || host->abi_major != POSTHOG_ABI_MAJOR) return nullptr;                                             \
    return &::posthog::detail::Module<PluginClass>::vtable;                                                        \
  }
#else
#define POSTHOG_PLUGIN(PluginClass)                                                             \
  static_assert(sizeof(PluginClass) == 0,                                                       \
                "POSTHOG_PLUGIN needs the manifest: build this file with "                      \
                "posthog_add_plugin(<target> SOURCES ... MANIFEST plugin.json) from CMake");
#endif
