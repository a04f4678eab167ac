#include <catch2/catch.hpp>
#include <posthog/manifest.hpp>

#include <boost/json.hpp>

namespace manifest_test {

using posthog::ConfigError;
using posthog::Manifest;
using posthog::ManifestError;

namespace {
std::string field_of_manifest_error(std::string_view json) {
  try {
    Manifest::parse(json);
  } catch (const ManifestError& e) {
    return e.field();
  }
  return "<accepted>";
}
std::string field_of_config_error(const Manifest& m, std::string_view config) {
  try {
    m.validate_config(boost::json::parse(config).as_object());
  } catch (const ConfigError& e) {
    return e.field();
  }
  return "<accepted>";
}

const char* schema = R"({"name": "p", "version": "1.2.3", "url": "https://x", "description": "d",
  "config": [
    {"markdown": "UI text, skipped"},
    {"key": "token", "name": "Token", "type": "string", "required": true, "secret": true},
    {"key": "mode", "type": "choice", "choices": ["a", "b"], "default": "a"},
    {"key": "rules", "type": "json", "default": "{\"x\": 1}"},
    {"key": "file", "type": "attachment"},
    {"key": "note", "type": "string"}
  ]})";
}  // namespace

TEST_CASE("A PostHog plugin.json parses, markdown blocks skipped", "[sdk][manifest]") {
  auto m = Manifest::parse(schema);
  CHECK(m.name == "p");
  CHECK(m.version == "1.2.3");
  CHECK(m.url == "https://x");
  REQUIRE(m.config.size() == 5);
  CHECK(m.field("token")->secret);
  CHECK(m.field("token")->required);
  CHECK(m.field("mode")->type == posthog::ConfigFieldType::choice);
  CHECK(m.field("file")->type == posthog::ConfigFieldType::attachment);
}

TEST_CASE("Manifest errors name the field", "[sdk][manifest]") {
  CHECK(field_of_manifest_error("[1, 2]").empty());
  CHECK(field_of_manifest_error("{not json").empty());
  CHECK(field_of_manifest_error(R"({"version": "1"})") == "name");
  CHECK(field_of_manifest_error(R"({"name": "p"})") == "version");
  CHECK(field_of_manifest_error(R"({"name": "", "version": "1"})") == "name");
  CHECK(field_of_manifest_error(R"({"name": "p", "version": "1", "config": {}})") == "config");
  CHECK(field_of_manifest_error(R"({"name": "p", "version": "1", "config": [{"type": "string"}]})") ==
        "config[0].key");
  CHECK(field_of_manifest_error(R"({"name": "p", "version": "1", "config": [{"key": "k", "type": "number"}]})") ==
        "config[0].type");
  CHECK(field_of_manifest_error(R"({"name": "p", "version": "1", "config": [{"key": "k", "type": "choice"}]})") ==
        "config[0].choices");
  CHECK(field_of_manifest_error(
            R"({"name": "p", "version": "1", "config": [{"key": "k", "type": "choice", "choices": ["a"], "default": "z"}]})") ==
        "config[0].default");
  CHECK(field_of_manifest_error(
            R"({"name": "p", "version": "1", "config": [{"key": "k"}, {"key": "k"}]})") == "config[1].key");
  CHECK(field_of_manifest_error(R"({"name": "p", "version": "1", "config": [{"key": "k", "secret": "yes"}]})") ==
        "config[0].secret");
}

TEST_CASE("Team config: defaults applied, json parsed, types checked", "[sdk][manifest][config]") {
  auto m = Manifest::parse(schema);
  auto c = m.validate_config(boost::json::parse(R"({"token": "t-1", "mode": "b"})").as_object());
  CHECK(c.at("token") == "t-1");
  CHECK(c.at("mode") == "b");
  CHECK(c.at("rules").at("x") == 1);  // the default, parsed
  CHECK_FALSE(c.contains("note"));    // optional, unset, no default
  auto with_object = m.validate_config(boost::json::parse(R"({"token": "t", "rules": {"y": 2}})").as_object());
  CHECK(with_object.at("rules").at("y") == 2);
}

TEST_CASE("Team config errors name the field and say why", "[sdk][manifest][config]") {
  auto m = Manifest::parse(schema);
  CHECK(field_of_config_error(m, "{}") == "token");                       // required
  CHECK(field_of_config_error(m, R"({"token": ""})") == "token");         // empty counts as missing
  CHECK(field_of_config_error(m, R"({"token": 5})") == "token");          // wrong type
  CHECK(field_of_config_error(m, R"({"token": "t", "mode": "c"})") == "mode");
  CHECK(field_of_config_error(m, R"({"token": "t", "rules": "{oops"})") == "rules");
  CHECK(field_of_config_error(m, R"({"token": "t", "file": "x"})") == "file");
  CHECK(field_of_config_error(m, R"({"token": "t", "tokn": "typo"})") == "tokn");
  try {
    m.validate_config(boost::json::parse(R"({"token": "t", "mode": "c"})").as_object());
    FAIL("accepted");
  } catch (const ConfigError& e) {
    CHECK(std::string(e.what()) == "config field 'mode': 'c' is not one of: a, b");
  }
}

TEST_CASE("Secret config values are redacted", "[sdk][manifest][config]") {
  auto m = Manifest::parse(schema);
  auto c = m.validate_config(boost::json::parse(R"({"token": "s3cret"})").as_object());
  auto shown = m.redact(c);
  CHECK(shown.at("token") == "********");
  CHECK(shown.at("mode") == "a");
  CHECK(boost::json::serialize(shown).find("s3cret") == std::string::npos);
}

TEST_CASE("An exporting plugin takes PostHog's export options without declaring them", "[sdk][manifest]") {
  auto m = posthog::Manifest::parse(R"({"name": "exporter", "version": "1.0.0",
      "config": [{"key": "url", "type": "string", "required": true},
                 {"key": "exportEventsToIgnore", "type": "string", "default": "$snapshot"}]})");
  boost::json::object const given{{"url", "http://x"}, {"exportEventsBufferBytes", "2048"}};
  CHECK_THROWS_AS(m.validate_config(given), posthog::ConfigError);  // not an exporter yet: unknown field
  m.add_export_fields();
  auto const v = m.validate_config(given);
  CHECK(v.at("exportEventsBufferBytes") == "2048");
  CHECK(v.at("exportEventsToIgnore") == "$snapshot");  // a declared one keeps its declaration
  CHECK(m.config.size() == 4);
}

}  // namespace manifest_test
