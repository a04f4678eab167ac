#include "check_mode.hpp"

#include <chrono>

#include "common/json_lines.hpp"
#include "sinks/fd_writer.hpp"
#include "embedded_plugin_host.hpp"
#include "process_memory.hpp"

namespace posthog::server {

int run_check_mode(const ServerConfig& config, int output_fd) {
  EmbeddedPluginHost host(0);
  long const rss_before = resident_kib();
  auto const started = std::chrono::steady_clock::now();
  host.build(config);
  auto const chains = host.chains.current();
  auto const& refusals = host.refusals;
  double const seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  long const rss_after = resident_kib();

  std::size_t copies = 0;
  for (auto const& team : config.teams)
    if (auto const* chain = chains->chain(team.id)) copies += chain->plugins().size();
  boost::json::array instances, errors;
  for (auto const& i : chains->instances()) instances.emplace_back(i->module().name());
  for (auto const& r : refusals) {
    boost::json::array details;
    for (auto const& d : r.details()) details.emplace_back(d);
    errors.push_back(boost::json::object{{"file", r.file()}, {"step", to_string(r.step())}, {"field", r.field()},
                                         {"details", std::move(details)}});
  }
  boost::json::object report{{"type", "check"},
                             {"teams", chains->team_count()},
                             {"plugin_copies", copies},
                             {"instances", std::move(instances)},
                             {"setup_seconds", seconds},
                             {"rss_kib_before_setup", rss_before},
                             {"rss_kib", rss_after},
                             {"load_errors", std::move(errors)}};
  std::string line;
  append_json_line(line, report);
  FdWriter(output_fd).write(line);
  return refusals.empty() ? 0 : 3;
}

}  // namespace posthog::server
