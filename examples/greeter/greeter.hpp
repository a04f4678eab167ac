#pragma once
#include <posthog/plugin.hpp>

#include <string>

class Greeter {
 public:
  explicit Greeter(posthog::TeamContext& team)
      : greeting_(team.config.string("greeting")), drop_(team.config.string_or("drop_event", "")) {}

  bool process_event(posthog::Event& event, posthog::Meta& meta) {
    if (!drop_.empty() && event.name() == drop_) return false;
    event.properties()["greeting"] = greeting_;
    event.properties()["greeting_counter"] = meta.cache.incr("greeting_counter");
    return true;
  }

 private:
  std::string greeting_;
  std::string drop_;
};
