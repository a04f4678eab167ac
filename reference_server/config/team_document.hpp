// The JSON form of one team, as the admin API takes and returns it and the
// durable store keeps it:
//
//   {"id": 2, "token": "phc_...",
//    "plugins": [{"name": "geoip", "enabled": true, "config": {}}, ...]}
//
// The plugins' order is the chain's order. Errors name the field at fault as a
// path inside the document ("plugins[1].enabled").
#pragma once

#include <boost/json/object.hpp>
#include <boost/json/value.hpp>
#include <cstdint>
#include <stdexcept>
#include <string>

#include "server_config.hpp"

namespace posthog::server {

class TeamDocumentError : public std::runtime_error {
 public:
  TeamDocumentError(std::string field, const std::string& message)
      : std::runtime_error(message), field_(std::move(field)) {}
  const std::string& field() const noexcept { return field_; }

 private:
  std::string field_;
};

boost::json::object team_to_json(const TeamSpec& team);

// Reads a team document; `id` is the team it must describe (an "id" in the
// document, if any, must match). Throws TeamDocumentError.
TeamSpec team_from_json(const boost::json::value& document, std::int64_t id);

}  // namespace posthog::server
