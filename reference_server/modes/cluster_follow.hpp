// What a server does with the ClusterBus's messages: it follows the change
// another server made.
//
//   team    re-read that team from the TeamRegistry and publish a chain set
//           with it (or without it, when it was deleted), as start-up would:
//           without plugins this server does not run, taking its token from
//           a config-file team that had it;
//   plugin  swap to the module whose content hash was announced: nothing when
//           it already serves it, a rollback when it is the previous version,
//           else this server's own file for the plugin (deployments put the
//           same build on every server); serving other bytes than announced
//           afterwards is reported, whether it swapped or not;
//   resync  compare every registry team with what serves (after connecting,
//           or reconnecting: messages sent meanwhile were not heard).
// Errors (a team this server cannot set up, a plugin it does not declare) are
// reported as `cluster_error` lines and the server goes on serving what it had.
#pragma once

#include "stores/redis/cluster_bus.hpp"
#include "stores/team_registry.hpp"

namespace posthog::server {

class LiveChains;
class HotSwap;
class FdWriter;
struct HostServices;

ClusterBus::Handler cluster_handler(LiveChains& chains, TeamRegistry& teams, HostServices& services, HotSwap& hot_swap,
                                    FdWriter& err);

}  // namespace posthog::server
