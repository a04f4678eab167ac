#include "hot_swap.hpp"

#include <set>

#include "sinks/fd_writer.hpp"
#include "diagnostics.hpp"

namespace posthog::server {

HotSwap::HotSwap(const ServerConfig& config, EmbeddedPluginHost& host, FdWriter& err)
    : err_(err), swap_(config.plugins, host.chains, host.services, versions_) {
  swap_.record_startup(host.refusals);
  if (!config.watch_plugins) return;
  std::set<std::filesystem::path> folders;
  for (auto const& p : config.plugins) folders.insert(p.file.parent_path().empty() ? "." : p.file.parent_path());
  try {
    watch_ = std::make_unique<PluginDirWatch>(
        std::vector<std::filesystem::path>(folders.begin(), folders.end()),
        [this](const std::filesystem::path& file) {
          if (file.empty()) return reload_changed("inotify");  // the kernel lost events: look at every file
          if (auto const* spec = swap_.plugin_for_file(file)) report(swap_.swap_in(spec->name, "inotify", file, true));
        },
        std::chrono::milliseconds(200),
        [this](const std::string& message) {
          err_.write(diagnostic_line({{"type", "swap_watch_error"}, {"message", message}}));
        });
  } catch (const std::exception& e) {
    err_.write(diagnostic_line({{"type", "swap_watch_error"},
                                {"message", std::string(e.what()) + ": plugins swap on SIGHUP and the admin API only"}}));
  }
}

HotSwap::~HotSwap() = default;

void HotSwap::reload_changed(std::string_view trigger) {
  for (auto const& result : swap_.swap_changed(trigger)) report(result);
}

void HotSwap::report(const SwapResult& result) {
  if (result.outcome == SwapResult::Outcome::unchanged) return;
  auto line = result.to_json();
  line["type"] = "swap";
  err_.write(diagnostic_line(line));
}

void HotSwap::render_metrics(std::string& out, const LiveChains& chains) const {
  out += "# HELP posthog_chain_generation Generation of the chain set serving (one per published change).\n"
         "# TYPE posthog_chain_generation gauge\nposthog_chain_generation " +
         std::to_string(chains.generation()) + "\n";
  out += "# HELP posthog_plugin_swaps_total Plugin modules swapped on the running server.\n"
         "# TYPE posthog_plugin_swaps_total counter\nposthog_plugin_swaps_total " +
         std::to_string(versions_.swaps()) + "\n";
  out += "# HELP posthog_plugin_swap_refusals_total Swaps refused, by the step that refused them.\n"
         "# TYPE posthog_plugin_swap_refusals_total counter\n";
  for (auto const& [step, count] : versions_.refusals_by_step())
    out += "posthog_plugin_swap_refusals_total{step=\"" + step + "\"} " + std::to_string(count) + "\n";
  out += "# HELP posthog_plugin_images_mapped Module images mapped by this process (never unmapped).\n"
         "# TYPE posthog_plugin_images_mapped gauge\nposthog_plugin_images_mapped " +
         std::to_string(PluginModule::mapped_images()) + "\n";
}

}  // namespace posthog::server
