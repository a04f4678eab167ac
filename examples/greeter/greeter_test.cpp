// The plugin class in-process through posthog/testing.hpp, then (when a server
// binary is given) the built module through the real loader.
#include <posthog/testing.hpp>

#include <cstdio>
#include <string>

#include "greeter.hpp"

#define EXPECT(condition)                                                  \
  do {                                                                     \
    if (!(condition)) {                                                    \
      std::fprintf(stderr, "%s:%d: failed: %s\n", __FILE__, __LINE__, #condition); \
      return 1;                                                            \
    }                                                                      \
  } while (0)

int main() {
  using posthog::testing::make_event;
  posthog::testing::PluginHarness<Greeter> plugin({{"drop_event", "$pageleave"}});
  auto out = plugin.process_event(make_event("$pageview"));
  EXPECT(out && out->at("properties").at("greeting") == "Hello world!");
  EXPECT(!plugin.process_event(make_event("$pageleave")));

  std::string const server = POSTHOG_PLUGIN_SERVER;
  if (!server.empty()) {
    std::string const module = GREETER_MODULE;
    boost::json::object config{
        {"plugins", boost::json::array{boost::json::object{{"name", "greeter"}, {"file", module}}}},
        {"teams", boost::json::array{boost::json::object{
                      {"id", 1}, {"plugins", boost::json::array{boost::json::object{{"name", "greeter"}}}}}}}};
    auto run = posthog::testing::run_process_mode(
        server, config, {R"({"event": "signed up", "distinct_id": "d", "team_id": 1})"});
    EXPECT(run.exit_code == 0);
    EXPECT(run.events.size() == 1);
    EXPECT(run.events[0].at("properties").at("greeting") == "Hello world!");
    std::printf("end to end through %s: ok\n", server.c_str());
  }
  std::printf("greeter: all checks passed\n");
  return 0;
}
