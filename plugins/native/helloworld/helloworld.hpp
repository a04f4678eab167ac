// helloworld: PostHog's hello-world plugin (github.com/PostHog/helloworldplugin),
// native. Every event gets properties.hello = "world", properties.bar from the
// team's config, and properties.$counter: how many events this team had before
// this one, counted in the team's cache.
#pragma once

#include <posthog/plugin.hpp>

#include <exception>
#include <string>

namespace posthog::plugins {

class HelloWorld {
 public:
  explicit HelloWorld(posthog::TeamContext& team) : bar_(team.config.string_or("bar", "baz")) {}

  // noexcept: the one call that can fail (the cache) is caught and logged, so
  // the server needs no undo snapshot for this plugin.
  bool process_event(posthog::Event& event, posthog::Meta& meta) noexcept {
    auto& props = event.properties();
    props["hello"] = "world";
    props["bar"] = bar_;
    try {
      props["$counter"] = meta.cache.incr("counter") - 1;  // atomic: the count before this event
    } catch (const std::exception& e) {
      meta.logger.warn(std::string("helloworld: no counter for this event, the cache failed: ") + e.what());
    }
    return true;
  }

 private:
  std::string bar_;
};

}  // namespace posthog::plugins
