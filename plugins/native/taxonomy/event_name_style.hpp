// Event names rewritten into one case style, word by word.
//
// Words are split at spaces, '_' and '-', and at case changes: "userSignedUp",
// "user_signed_up", "User Signed Up" and "user-signed-up" are the same three
// words, and an acronym stays one word ("HTTPRequestSent": HTTP, Request,
// Sent). Digits belong to the word before them. Bytes outside ASCII are kept
// as they are. PostHog's taxonomy plugin used one regular expression per style
// and mangled mixed names ("User Logged In" became "user Logged In" in
// camelCase); splitting into words first gives one answer per name whatever
// style it arrived in.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace posthog::plugins::taxonomy {

enum class Style : std::uint8_t { camel, pascal, snake, kebab, spaces, title };

// The style named as in plugin.json's choices, or nullopt.
std::optional<Style> style_named(std::string_view name) noexcept;

std::string restyle(std::string_view name, Style style);

}  // namespace posthog::plugins::taxonomy
