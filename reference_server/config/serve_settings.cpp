#include "serve_settings.hpp"

#include <charconv>
#include <cstdlib>

namespace posthog::server {
namespace {

[[noreturn]] void fail(const std::string& where, const std::string& why) {
  throw ConfigFileError("serve settings: " + where + ": " + why);
}

std::uint64_t number(std::string_view text, const std::string& where, std::uint64_t min, std::uint64_t max) {
  std::uint64_t v = 0;
  auto const r = std::from_chars(text.data(), text.data() + text.size(), v);
  if (text.empty() || r.ec != std::errc() || r.ptr != text.data() + text.size() || v < min || v > max)
    fail(where, "must be a whole number from " + std::to_string(min) + " to " + std::to_string(max) + ", not '" +
                    std::string(text) + "'");
  return v;
}

std::uint64_t json_number(const boost::json::object& o, const char* key, std::uint64_t fallback, std::uint64_t min,
                          std::uint64_t max) {
  auto const* v = o.if_contains(key);
  if (!v) return fallback;
  if (v->is_int64() && v->get_int64() >= 0) return number(std::to_string(v->get_int64()), std::string("$.serve.") + key, min, max);
  if (v->is_uint64()) return number(std::to_string(v->get_uint64()), std::string("$.serve.") + key, min, max);
  fail(std::string("$.serve.") + key, "must be a whole number");
}

std::vector<std::string> split_list(std::string_view s) {
  std::vector<std::string> out;
  while (!s.empty()) {
    auto const comma = s.find(',');
    auto item = s.substr(0, comma);
    while (!item.empty() && item.front() == ' ') item.remove_prefix(1);
    while (!item.empty() && item.back() == ' ') item.remove_suffix(1);
    if (!item.empty()) out.emplace_back(item);
    if (comma == std::string_view::npos) break;
    s.remove_prefix(comma + 1);
  }
  return out;
}

void set_listen(ServeSettings& s, std::string_view listen, const std::string& where) {
  auto const colon = listen.rfind(':');
  if (colon == std::string_view::npos) fail(where, "must be host:port, like 127.0.0.1:8000");
  auto host = listen.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  s.host = std::string(host);
  s.port = static_cast<std::uint16_t>(number(listen.substr(colon + 1), where, 0, 65535));
}

}  // namespace

ServeSettings::Environment ServeSettings::process_environment() {
  return [](const char* name) -> std::optional<std::string> {
    char const* v = std::getenv(name);
    if (!v) return std::nullopt;
    return std::string(v);
  };
}

ServeSettings ServeSettings::from(const ServerConfig& config, const Environment& env) {
  ServeSettings s;
  s.workers = config.workers;
  auto const& o = config.serve;
  if (auto const* v = o.if_contains("listen")) {
    if (!v->is_string()) fail("$.serve.listen", "must be a string like 127.0.0.1:8000");
    set_listen(s, v->get_string(), "$.serve.listen");
  }
  s.io_threads = static_cast<unsigned>(json_number(o, "io_threads", s.io_threads, 1, 64));
  s.max_body_bytes = json_number(o, "max_body_bytes", s.max_body_bytes, 1024, std::uint64_t(1) << 32);
  s.max_decoded_bytes = json_number(o, "max_decoded_bytes", s.max_decoded_bytes, 1024, std::uint64_t(1) << 32);
  s.max_inflight_events = json_number(o, "max_inflight_events", s.max_inflight_events, 1, 100000000);
  s.retry_after_seconds = static_cast<int>(json_number(o, "retry_after_seconds", s.retry_after_seconds, 1, 3600));
  if (auto const* v = o.if_contains("trusted_proxies")) {
    if (!v->is_array()) fail("$.serve.trusted_proxies", "must be an array of IP addresses");
    for (auto const& p : v->get_array()) {
      if (!p.is_string()) fail("$.serve.trusted_proxies", "must be an array of IP addresses");
      s.trusted_proxies.emplace_back(p.get_string());
    }
  }
  if (auto const* v = o.if_contains("sink")) {
    if (!v->is_object()) fail("$.serve.sink", "must be an object like {\"type\": \"jsonl\", \"path\": \"events.jsonl\"}");
    auto const& sink = v->get_object();
    if (auto const* t = sink.if_contains("type"); t && (!t->is_string() || t->get_string() != "jsonl"))
      fail("$.serve.sink.type", "must be \"jsonl\" (the only sink so far)");
    if (auto const* p = sink.if_contains("path")) {
      if (!p->is_string() || p->get_string().empty()) fail("$.serve.sink.path", "must be a file path");
      s.sink_path = std::string(p->get_string());
    }
    if (auto const* f = sink.if_contains("fsync")) {
      if (!f->is_string()) fail("$.serve.sink.fsync", "must be batch, interval or never");
      s.sink_fsync = f->get_string();
    }
  }

  // The environment wins over the file.
  if (auto v = env("WEB_HOST")) s.host = *v;
  if (auto v = env("WEB_PORT")) s.port = static_cast<std::uint16_t>(number(*v, "WEB_PORT", 0, 65535));
  if (auto v = env("IO_THREADS")) s.io_threads = static_cast<unsigned>(number(*v, "IO_THREADS", 1, 64));
  if (auto v = env("WORKER_CONCURRENCY")) s.workers = static_cast<unsigned>(number(*v, "WORKER_CONCURRENCY", 0, 1024));
  if (auto v = env("MAX_BODY_BYTES")) s.max_body_bytes = number(*v, "MAX_BODY_BYTES", 1024, std::uint64_t(1) << 32);
  if (auto v = env("MAX_DECODED_BYTES")) s.max_decoded_bytes = number(*v, "MAX_DECODED_BYTES", 1024, std::uint64_t(1) << 32);
  if (auto v = env("MAX_INFLIGHT_EVENTS")) s.max_inflight_events = number(*v, "MAX_INFLIGHT_EVENTS", 1, 100000000);
  if (auto v = env("RETRY_AFTER_SECONDS")) s.retry_after_seconds = static_cast<int>(number(*v, "RETRY_AFTER_SECONDS", 1, 3600));
  if (auto v = env("TRUSTED_PROXIES")) s.trusted_proxies = split_list(*v);
  if (auto v = env("SINK_PATH")) s.sink_path = *v;
  if (auto v = env("SINK_FSYNC")) s.sink_fsync = *v;
  if (s.sink_fsync != "batch" && s.sink_fsync != "interval" && s.sink_fsync != "never")
    fail("sink fsync", "must be batch, interval or never, not '" + s.sink_fsync + "'");
  if (s.sink_path.is_relative()) s.sink_path = (config.base_dir / s.sink_path).lexically_normal();
  return s;
}

}  // namespace posthog::server
