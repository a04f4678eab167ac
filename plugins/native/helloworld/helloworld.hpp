// helloworld: PostHog's hello-world plugin (github.com/PostHog/helloworldplugin),
// native. Every event gets properties.hello = "world", properties.bar from the
// team's config, and properties.$counter: how many events this team had before
// this one, counted in the team's cache.
#pragma once

#include <posthog/plugin.hpp>

#include <string>

namespace posthog::plugins {

class HelloWorld {
 public:
  explicit HelloWorld(posthog::TeamContext& team) : bar_(team.config.string_or("bar", "baz")) {}

  bool process_event(posthog::Event& event, posthog::Meta& meta) {
    auto const seen = meta.cache.incr("counter") - 1;  // atomic: the count before this event
    auto& props = event.properties();
    props["hello"] = "world";
    props["bar"] = bar_;
    props["$counter"] = seen;
    return true;
  }

 private:
  std::string bar_;
};

}  // namespace posthog::plugins
