// posthog/plugin.hpp: the one header a plugin author includes.
//
// A plugin is an ordinary C++ class. The hooks it defines are its capabilities
// (see capabilities.hpp); POSTHOG_PLUGIN(Class) makes it a loadable module, built
// with posthog_add_plugin() from CMake. The server loads the module once per
// process, calls setup_instance once (shared state, e.g. a GeoIP database), and
// constructs one small copy of the class per team, from that team's config.
//
//   #include <posthog/plugin.hpp>
//
//   class HelloWorld {
//    public:
//     explicit HelloWorld(posthog::TeamContext& team) : bar_(team.config.string("bar")) {}
//     bool process_event(posthog::Event& event, posthog::Meta& meta) {
//       event.properties()["hello"] = "world";
//       event.properties()["bar"] = bar_;
//       event.properties()["$counter"] = meta.cache.incr("counter") - 1;
//       return true;  // false drops the event
//     }
//    private:
//     std::string bar_;
//   };
//   POSTHOG_PLUGIN(HelloWorld)
//
// Threading. The hooks of one team copy may run on several worker threads at
// once; events of one (team, distinct_id) are always processed in order, one at a
// time. export_events, jobs and run_every_minute/hour/day run on threads of
// their own, possibly while process_event runs on the same copy. State set up in
// the constructor and read afterwards needs nothing; state written by hooks goes
// through `meta.cache` / `meta.storage` (atomic where their operations say so,
// e.g. incr) or the plugin's own synchronisation.
//
// Background work. `meta.jobs("name", payload).run_in(...)` queues a job, one of
// the handlers the class declares in `static constexpr posthog::Job<C> jobs[]`;
// jobs and export batches are kept in the server's store until done, and one
// that throws posthog::RetryError runs again later (meta.attempt() says which try).
//
// Health. The server times every hook: one that keeps throwing or running slow
// is paused (skipped, its events going on without it) and at worst disabled
// until an admin enables it; one that runs past the hard timeout (30 s) is
// reported while it runs. Catch what you can and log it.
//
// Lifetime. Cache, storage and other Meta state live in the server, not in the
// module: they survive a reload or hot swap of the plugin. Members of the class
// and the module's statics do not: a new version starts from setup_instance and
// its constructor, while the old one finishes the batches it was given and is
// then torn down (its image stays mapped until the process exits, so statics
// and thread-locals of an old version are never destroyed under a thread).
#pragma once

#include "abi.h"
#include "capabilities.hpp"
#include "config.hpp"
#include "errors.hpp"
#include "event.hpp"
#include "manifest.hpp"
#include "meta.hpp"
#include "module.hpp"
#include "timestamp.hpp"
#include "version.hpp"
