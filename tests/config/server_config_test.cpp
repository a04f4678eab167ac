#include <catch2/catch.hpp>

#include <map>
#include <optional>

#include "config/serve_settings.hpp"
#include "config/server_config.hpp"

namespace server_config_test {

using posthog::server::ConfigFileError;
using posthog::server::ServerConfig;

namespace {
std::string error_of(std::string_view json) {
  try {
    ServerConfig::parse(json, "/etc/posthog", "server.json");
  } catch (const ConfigFileError& e) {
    return e.what();
  }
  return "<accepted>";
}
}  // namespace

TEST_CASE("The config file: paths resolve against its folder, chain order kept", "[config]") {
  auto c = ServerConfig::parse(R"({
    "plugins_dir": "plugins", "workers": 3,
    "plugins": [{"name": "helloworld", "settings": {"a": 1}}, {"name": "geo", "file": "/opt/geo.so"}],
    "teams": [{"id": 1, "token": "phc_1", "plugins": [
      {"name": "geo", "config": {"x": "y"}}, {"name": "helloworld", "enabled": false}]}]})",
                               "/etc/posthog");
  CHECK(c.plugins_dir == "/etc/posthog/plugins");
  CHECK(c.workers == 3);
  CHECK(c.plugins[0].file == "/etc/posthog/plugins/helloworld.so");
  CHECK(c.plugins[0].settings.at("a") == 1);
  CHECK(c.plugins[1].file == "/opt/geo.so");
  REQUIRE(c.teams[0].plugins.size() == 2);
  CHECK(c.teams[0].plugins[0].name == "geo");
  CHECK(c.teams[0].plugins[0].config.at("x") == "y");
  CHECK_FALSE(c.teams[0].plugins[1].enabled);
}

TEST_CASE("Config file errors name the file and the JSON path", "[config]") {
  CHECK(error_of("{") == "server.json: not valid JSON: incomplete JSON");
  CHECK(error_of("[]") == "server.json: $: must be an object");
  CHECK(error_of(R"({"plugins": [{}]})") == "server.json: $.plugins[0].name: is missing");
  CHECK(error_of(R"({"plugins": [{"name": "a"}, {"name": "a"}]})") ==
        "server.json: $.plugins[1].name: 'a' is listed twice");
  CHECK(error_of(R"({"teams": [{"token": "x"}]})") == "server.json: $.teams[0].id: is missing");
  CHECK(error_of(R"({"teams": [{"id": 1, "plugins": [{"name": "ghost"}]}]})") ==
        "server.json: $.teams[0].plugins[0].name: 'ghost' is not declared in $.plugins");
  CHECK(error_of(R"({"teams": [{"id": 1, "token": "t"}, {"id": 2, "token": "t"}]})") ==
        "server.json: $.teams[1].token: token 't' belongs to another team too");
  CHECK(error_of(R"({"workers": -1})") == "server.json: $.workers: must be between 0 (one per core) and 1024");
  CHECK(error_of(R"({"plugins": [{"name": "a", "settings": []}]})") ==
        "server.json: $.plugins[0].settings: must be an object");
}

TEST_CASE("${config_dir} in plugin settings names the config file's folder", "[config]") {
  auto c = ServerConfig::parse(R"({
    "plugins": [{"name": "geoip", "settings": {
      "database": ["${config_dir}/db/a.mmdb", "/abs/b.mmdb"], "nested": {"x": "${config_dir}:${config_dir}"}, "n": 1}}]})",
                               "/etc/posthog");
  auto const& s = c.plugins[0].settings;
  CHECK(s.at("database").at(0) == "/etc/posthog/db/a.mmdb");
  CHECK(s.at("database").at(1) == "/abs/b.mmdb");
  CHECK(s.at("nested").at("x") == "/etc/posthog:/etc/posthog");
  CHECK(s.at("n") == 1);
}

TEST_CASE("Serve settings come from the file, then the environment", "[config][serve]") {
  auto c = ServerConfig::parse(R"({"workers": 3, "serve": {"listen": "0.0.0.0:9000", "max_inflight_events": 500,
                                    "trusted_proxies": ["10.0.0.1"], "sink": {"path": "out/e.jsonl", "fsync": "batch"}}})",
                               "/srv/posthog");
  std::map<std::string, std::string> env;
  auto from_env = [&](const char* name) -> std::optional<std::string> {
    auto it = env.find(name);
    return it == env.end() ? std::nullopt : std::optional<std::string>(it->second);
  };
  auto s = posthog::server::ServeSettings::from(c, from_env);
  CHECK(s.host == "0.0.0.0");
  CHECK(s.port == 9000);
  CHECK(s.workers == 3);
  CHECK(s.max_inflight_events == 500);
  CHECK(s.trusted_proxies == std::vector<std::string>{"10.0.0.1"});
  CHECK(s.sink_path == "/srv/posthog/out/e.jsonl");
  CHECK(s.sink_fsync == "batch");

  env = {{"WEB_PORT", "8123"}, {"WORKER_CONCURRENCY", "5"}, {"TRUSTED_PROXIES", "10.0.0.2, 10.0.0.3"},
         {"SINK_PATH", "/var/events.jsonl"}, {"SINK_FSYNC", "never"}};
  s = posthog::server::ServeSettings::from(c, from_env);
  CHECK(s.port == 8123);
  CHECK(s.workers == 5);
  CHECK(s.trusted_proxies == std::vector<std::string>{"10.0.0.2", "10.0.0.3"});
  CHECK(s.sink_path == "/var/events.jsonl");
  CHECK(s.sink_fsync == "never");

  env = {{"WEB_PORT", "eighty"}};
  CHECK_THROWS_WITH(posthog::server::ServeSettings::from(c, from_env), Catch::Contains("WEB_PORT: must be a whole number"));
  env = {{"SINK_FSYNC", "sometimes"}};
  CHECK_THROWS_WITH(posthog::server::ServeSettings::from(c, from_env), Catch::Contains("batch, interval or never"));
  auto bad = ServerConfig::parse(R"({"serve": {"listen": "nowhere"}})", "/srv");
  CHECK_THROWS_WITH(posthog::server::ServeSettings::from(bad, from_env), Catch::Contains("$.serve.listen"));
}

TEST_CASE("Serve settings: store, admin, forward sink, log level", "[config][serve]") {
  std::map<std::string, std::string> env;
  auto from_env = [&](const char* name) -> std::optional<std::string> {
    auto it = env.find(name);
    return it == env.end() ? std::nullopt : std::optional<std::string>(it->second);
  };
  auto c = ServerConfig::parse(R"({"serve": {"store": "state/ph.db", "log_level": "warn",
      "admin": {"listen": "[::1]:9001", "token": "a-long-enough-admin-token"},
      "sink": {"type": "posthog", "url": "https://eu.i.posthog.com", "batch_events": 100, "drain_seconds": 2}}})",
                               "/srv/posthog");
  auto s = posthog::server::ServeSettings::from(c, from_env);
  CHECK(s.store_path == "/srv/posthog/state/ph.db");
  CHECK(s.log_level == "warn");
  CHECK(s.admin_host == "::1");
  CHECK(s.admin_port == 9001);
  CHECK(s.admin_token == "a-long-enough-admin-token");
  CHECK(s.sink_type == "posthog");
  CHECK(s.sink_url == "https://eu.i.posthog.com");
  CHECK(s.sink_batch_events == 100);
  CHECK(s.sink_drain_seconds == 2);

  env = {{"ADMIN_TOKEN", "token-from-the-environment"}, {"ADMIN_PORT", "0"}, {"STORE_PATH", "/var/lib/ph.db"},
         {"SINK_TYPE", "jsonl"}, {"LOG_LEVEL", "debug"}, {"CACHE_MAX_BYTES", "2097152"}};
  s = posthog::server::ServeSettings::from(c, from_env);
  CHECK(s.admin_token == "token-from-the-environment");
  CHECK(s.admin_port == 0);
  CHECK(s.store_path == "/var/lib/ph.db");
  CHECK(s.sink_type == "jsonl");
  CHECK(s.log_level == "debug");
  CHECK(s.cache_max_bytes == 2097152);

  env = {{"ADMIN_TOKEN", "short"}};
  CHECK_THROWS_WITH(posthog::server::ServeSettings::from(c, from_env), Catch::Contains("at least 16 characters"));
  env = {{"SINK_URL", "eu.i.posthog.com"}};
  CHECK_THROWS_WITH(posthog::server::ServeSettings::from(c, from_env), Catch::Contains("needs the URL"));
  env = {{"SINK_TYPE", "kafka"}};
  CHECK_THROWS_WITH(posthog::server::ServeSettings::from(c, from_env), Catch::Contains("jsonl or posthog"));
  env = {{"LOG_LEVEL", "loud"}};
  CHECK_THROWS_WITH(posthog::server::ServeSettings::from(c, from_env), Catch::Contains("debug, info, warn or error"));
  auto bad = ServerConfig::parse(R"({"serve": {"admin": {"listen": 8001}}})", "/srv");
  env.clear();
  CHECK_THROWS_WITH(posthog::server::ServeSettings::from(bad, from_env), Catch::Contains("$.serve.admin.listen"));
}

}  // namespace server_config_test
