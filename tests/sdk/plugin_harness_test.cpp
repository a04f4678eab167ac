// Capabilities detected at compile time, and the generated adapters driven
// through posthog/testing.hpp exactly as the server drives them.
#include <catch2/catch.hpp>
#include <posthog/testing.hpp>

#include <memory>
#include <span>
#include <stdexcept>

namespace plugin_harness_test {

using posthog::testing::HookFailed;
using posthog::testing::make_event;
using posthog::testing::PluginHarness;

namespace {

constexpr const char* minimal_manifest = R"({"name": "t", "version": "1.0.0"})";

struct OnlyProcess {
  bool process_event(posthog::Event&, posthog::Meta&) { return true; }
};
struct CannotFail {
  bool process_event(posthog::Event&, posthog::Meta&) noexcept { return true; }
};
struct Everything {
  struct State {
    int loads = 0;
  };
  static std::unique_ptr<State> setup_instance(posthog::InstanceContext&) { return std::make_unique<State>(); }
  Everything(posthog::TeamContext&, State& state) : state(state) { ++state.loads; }
  void process_event(posthog::Event&, posthog::Meta&) {}
  void on_event(const posthog::Event&, posthog::Meta&) {}
  void export_events(std::span<const posthog::Event>, posthog::Meta&) {}
  void run_every_minute(posthog::Meta&) {}
  void run_every_hour(posthog::Meta&) {}
  void run_every_day(posthog::Meta&) {}
  void teardown() {}
  State& state;
};
struct WrongSignature {
  int process_event(posthog::Event&) { return 0; }  // no Meta: not the hook
  void on_event(posthog::Event&, posthog::Meta&) {}  // non-const event: still callable with const? no
};

}  // namespace

TEST_CASE("Capabilities are the hooks a class defines", "[sdk][capabilities]") {
  STATIC_REQUIRE(posthog::capabilities_of<OnlyProcess>() == POSTHOG_CAP_PROCESS_EVENT);
  STATIC_REQUIRE(posthog::capabilities_of<Everything>() ==
                 (POSTHOG_CAP_SETUP_INSTANCE | POSTHOG_CAP_PROCESS_EVENT | POSTHOG_CAP_ON_EVENT |
                  POSTHOG_CAP_EXPORT_EVENTS | POSTHOG_CAP_RUN_EVERY_MINUTE | POSTHOG_CAP_RUN_EVERY_HOUR |
                  POSTHOG_CAP_RUN_EVERY_DAY | POSTHOG_CAP_TEARDOWN));
  STATIC_REQUIRE(posthog::capabilities_of<WrongSignature>() == 0);
  // noexcept is published, so the server can skip the undo snapshot for it.
  STATIC_REQUIRE(posthog::capabilities_of<CannotFail>() ==
                 (POSTHOG_CAP_PROCESS_EVENT | POSTHOG_CAP_PROCESS_EVENT_NOEXCEPT));
  // A hook the class lacks has no adapter in the table: the server never routes to it.
  STATIC_REQUIRE(posthog::detail::Module<OnlyProcess>::vtable.on_event == nullptr);
  CHECK(posthog::detail::Module<OnlyProcess>::vtable.process_event != nullptr);
  CHECK(posthog::detail::Module<Everything>::vtable.run_every_day != nullptr);
}

namespace {
struct Counter {
  bool process_event(posthog::Event& e, posthog::Meta& meta) {
    if (e.name() == "drop me") return false;
    if (e.name() == "retry") throw posthog::RetryError("upstream busy");
    if (e.name() == "fail") throw std::out_of_range("index 7 out of range");
    if (e.name() == "weird") throw 42;
    e.properties()["n"] = meta.cache.incr("n");
    meta.cache.set("short", "lived", std::chrono::seconds(60));
    meta.storage.set("last", e.name());
    meta.logger.info("saw " + std::string(e.name()));
    if (e.name() == "emit") meta.capture("emitted", {{"from", "counter"}});
    return true;
  }
};
}  // namespace

TEST_CASE("The harness runs hooks through the real adapters", "[sdk][harness]") {
  PluginHarness<Counter> plugin({}, {}, minimal_manifest);
  auto out = plugin.process_event(make_event("a"));
  REQUIRE(out);
  CHECK(out->at("properties").at("n") == 1);
  CHECK(plugin.process_event(make_event("b"))->at("properties").at("n") == 2);
  CHECK_FALSE(plugin.process_event(make_event("drop me")).has_value());
  CHECK(plugin.storage().get("last")->as_string() == "b");
  REQUIRE(plugin.logs().size() == 2);
  CHECK(plugin.logs()[1].message == "saw b");
  plugin.process_event(make_event("emit"));
  REQUIRE(plugin.captured().size() == 1);
  CHECK(plugin.captured()[0].at("event") == "emitted");
}

TEST_CASE("Exceptions become statuses with the type and message", "[sdk][harness]") {
  PluginHarness<Counter> plugin({}, {}, minimal_manifest);
  try {
    plugin.process_event(make_event("retry"));
    FAIL("no exception");
  } catch (const HookFailed& e) {
    CHECK(e.retry);
    CHECK(e.kind == "posthog::RetryError");
    CHECK(std::string(e.what()).find("upstream busy") != std::string::npos);
  }
  try {
    plugin.process_event(make_event("fail"));
    FAIL("no exception");
  } catch (const HookFailed& e) {
    CHECK_FALSE(e.retry);
    CHECK(e.kind == "std::out_of_range");
  }
  try {
    plugin.process_event(make_event("weird"));
    FAIL("no exception");
  } catch (const HookFailed& e) {
    CHECK(e.kind == "unknown");
  }
}

TEST_CASE("Cache TTL follows the harness clock", "[sdk][harness]") {
  PluginHarness<Counter> plugin({}, {}, minimal_manifest);
  plugin.process_event(make_event("a"));
  CHECK(plugin.cache().get("short").has_value());
  plugin.advance_clock(std::chrono::seconds(61));
  CHECK_FALSE(plugin.cache().get("short").has_value());
  CHECK(plugin.cache().get("n")->as_int64() == 1);  // no TTL: still there
}

TEST_CASE("Cache list operations follow PostHog's semantics", "[sdk][harness][cache]") {
  PluginHarness<Counter> plugin({}, {}, minimal_manifest);
  auto cache = plugin.cache();
  CHECK(cache.lpush("l", "a") == 1);
  CHECK(cache.lpush("l", "b") == 2);
  CHECK(cache.lpush("l", "a") == 3);
  CHECK(cache.llen("l") == 3);
  auto all = cache.lrange("l", 0, -1);
  REQUIRE(all.size() == 3);
  CHECK(all[0] == "a");
  CHECK(all[1] == "b");
  CHECK(cache.lrem("l", 0, "a") == 2);
  CHECK(cache.lpop("l", 5).size() == 1);
  CHECK(cache.llen("l") == 0);
  for (int i = 0; i < 1005; ++i) cache.lpush("capped", i);
  CHECK(cache.llen("capped") == 1000);
  CHECK(cache.lrange("capped", 0, 0)[0] == 1004);
}

namespace {
struct NeedsConfig {
  explicit NeedsConfig(posthog::TeamContext& team) : greeting(team.config.string("greeting")) {}
  bool process_event(posthog::Event& e, posthog::Meta&) {
    e.properties()["greeting"] = greeting;
    return true;
  }
  std::string greeting;
};
constexpr const char* greeting_manifest = R"({"name": "g", "version": "1.0.0",
  "config": [{"key": "greeting", "type": "string", "required": true}]})";
}  // namespace

TEST_CASE("Team setup reads typed config; a bad config is refused with the field", "[sdk][harness][config]") {
  PluginHarness<NeedsConfig> ok({{"greeting", "hi"}}, {}, greeting_manifest);
  CHECK(ok.process_event(make_event("a"))->at("properties").at("greeting") == "hi");
  try {
    PluginHarness<NeedsConfig> missing({}, {}, greeting_manifest);
    FAIL("accepted a config without its required field");
  } catch (const posthog::ConfigError& e) {
    CHECK(e.field() == "greeting");
  }
}

TEST_CASE("Instance state is shared and built once per harness instance", "[sdk][harness]") {
  PluginHarness<Everything> plugin({}, {}, minimal_manifest);
  CHECK(plugin.process_event(make_event("a")).has_value());
  plugin.run_every_minute();
  plugin.export_events({make_event("x"), make_event("y")});
}

namespace {

// PostHog's jobs (src/worker/vm/extensions/jobs.ts): declared handlers, queued
// from any hook with a payload and a time, retried on RetryError.
struct WithJobs {
  bool process_event(posthog::Event& event, posthog::Meta& meta) {
    meta.jobs("sync", {{"uuid", event.uuid()}}).run_in(std::chrono::minutes(5));
    meta.jobs("cleanup").run_now();
    return true;
  }
  void sync(const boost::json::value& payload, posthog::Meta& meta) {
    if (meta.attempt() < 3) throw posthog::RetryError("upstream busy");
    meta.logger.info("synced " + boost::json::serialize(payload) + " at attempt " + std::to_string(meta.attempt()) +
                     " of " + std::to_string(meta.max_attempts()));
  }
  void cleanup(const boost::json::value&, posthog::Meta& meta) { meta.jobs("no-such-job").run_now(); }
  void export_events(std::span<const posthog::Event>, posthog::Meta& meta) {
    if (meta.attempt() == meta.max_attempts()) meta.logger.warn("last chance");
  }
  static constexpr posthog::Job<WithJobs> jobs[] = {{"sync", &WithJobs::sync}, {"cleanup", &WithJobs::cleanup}};
};

}  // namespace

TEST_CASE("Jobs are declared, queued with a payload and a time, and see their attempt", "[sdk][harness][jobs]") {
  static_assert(posthog::capabilities_of<WithJobs>() & POSTHOG_CAP_JOBS);
  static_assert(!(posthog::capabilities_of<OnlyProcess>() & POSTHOG_CAP_JOBS));
  PluginHarness<WithJobs> plugin({}, {}, minimal_manifest);
  auto const before = std::chrono::system_clock::now();
  plugin.process_event(make_event("$pageview"));
  auto const jobs = plugin.jobs();
  REQUIRE(jobs.size() == 2);
  CHECK(jobs[0].name == "sync");
  CHECK(jobs[0].payload.at("uuid").is_string());
  auto const in_five = std::chrono::duration_cast<std::chrono::milliseconds>(
                           (before + std::chrono::minutes(5)).time_since_epoch())
                           .count();
  CHECK(jobs[0].run_at_ms >= in_five);
  CHECK(jobs[0].run_at_ms < in_five + 60'000);
  CHECK(jobs[1].name == "cleanup");
  CHECK(jobs[1].run_at_ms == 0);

  try {
    plugin.run_job("sync", jobs[0].payload, 1, 16);
    FAIL("RetryError expected");
  } catch (const HookFailed& e) {
    CHECK(e.retry);
    CHECK(e.kind == "posthog::RetryError");
  }
  plugin.run_job("sync", jobs[0].payload, 3, 16);
  CHECK(plugin.logs().back().message.find("at attempt 3 of 16") != std::string::npos);
  // A name the plugin does not declare is refused where it is queued.
  CHECK_THROWS_WITH(plugin.run_job("cleanup"), Catch::Contains("no job named 'no-such-job'"));
  CHECK_THROWS_AS(plugin.run_job("nothing-like-it"), HookFailed);

  plugin.export_events({make_event("e")}, 16, 16);
  CHECK(plugin.logs().back().message == "last chance");
}

namespace {

// PostHog's meta pieces beyond cache and storage, as a ported plugin uses them.
struct Ported {
  static constexpr posthog::MetricDeclaration metrics[] = {{"events", posthog::MetricKind::sum},
                                                           {"biggest", posthog::MetricKind::max},
                                                           {"smallest", posthog::MetricKind::min}};
  explicit Ported(posthog::TeamContext& team) {
    if (auto a = team.meta.attachments.get("rates")) rates = a->contents;
  }
  bool process_event(posthog::Event& event, posthog::Meta& meta) {
    auto const size = static_cast<double>(event.properties().size());
    meta.metrics("events").increment();
    meta.metrics("biggest").max(size);
    meta.metrics("smallest").min(size);
    event.properties()["cursor"] = meta.utils.cursor.increment("cursor");
    event.properties()["calls"] = meta.global.with([](boost::json::object& g) {
      return g["calls"] = g["calls"].is_int64() ? g["calls"].get_int64() + 1 : 1;
    });
    event.properties()["rates"] = rates;
    return true;
  }
  std::string rates;
};
constexpr const char* ported_manifest = R"({"name": "ported", "version": "1.0.0",
  "config": [{"key": "rates", "type": "attachment"}]})";

}  // namespace

TEST_CASE("Declared metrics, utils.cursor, meta.global and attachments in the harness", "[sdk][meta]") {
  STATIC_REQUIRE((posthog::capabilities_of<Ported>() & POSTHOG_CAP_METRICS) != 0);
  PluginHarness<Ported> plugin(
      {{"rates", {{"file_name", "rates.csv"}, {"content_type", "text/csv"}, {"contents", "EUR,1\nUSD,0.92\n"}}}}, {},
      ported_manifest);
  plugin.storage().set("cursor", boost::json::value(40));  // a cursor reads and writes storage's key
  plugin.process_event(make_event("a", {{"x", 1}}));
  auto out = plugin.process_event(make_event("b", {{"x", 1}, {"y", 2}, {"z", 3}}));
  REQUIRE(out);
  CHECK(out->at("properties").at("cursor") == 42);
  CHECK(out->at("properties").at("calls") == 2);  // this copy's global, kept between calls
  CHECK(out->at("properties").at("rates") == "EUR,1\nUSD,0.92\n");
  auto const m = plugin.metrics();
  CHECK(m.at("events") == 2);
  CHECK(m.at("biggest") == 3);
  CHECK(m.at("smallest") == 1);
  CHECK(plugin.storage().get("cursor")->as_int64() == 42);
}

namespace {
struct Careless {
  static constexpr posthog::MetricDeclaration metrics[] = {{"biggest", posthog::MetricKind::max}};
  bool process_event(posthog::Event& e, posthog::Meta& meta) {
    if (e.name() == "undeclared") meta.metrics("nope").increment();
    else meta.metrics("biggest").increment();
    return true;
  }
};
}  // namespace

TEST_CASE("An undeclared metric, or the wrong operation for its kind, is refused", "[sdk][meta]") {
  PluginHarness<Careless> plugin({}, {}, minimal_manifest);
  try {
    plugin.process_event(make_event("undeclared"));
    FAIL("accepted");
  } catch (const HookFailed& e) {
    CHECK(e.kind == "std::invalid_argument");
    CHECK(std::string(e.what()).find("declares no metric of that name") != std::string::npos);
  }
  CHECK_THROWS_WITH(plugin.process_event(make_event("wrong kind")),
                    Catch::Contains("the metric is declared with another kind"));
}

TEST_CASE("cache.lpush_many pushes an array in order, and refuses more than 1,000 (cache.ts)", "[sdk][meta]") {
  struct Lists {
    bool process_event(posthog::Event& e, posthog::Meta& meta) {
      auto const n = e.properties().at("n").to_number<int>();
      std::vector<boost::json::value> values;
      for (int i = 0; i < n; ++i) values.emplace_back(i);
      e.properties()["length"] = meta.cache.lpush_many("list", values);
      return true;
    }
  };
  PluginHarness<Lists> plugin({}, {}, minimal_manifest);
  auto out = plugin.process_event(make_event("e", {{"n", 3}}));
  CHECK(out->at("properties").at("length") == 3);
  auto const list = plugin.cache().lrange("list", 0, -1);
  REQUIRE(list.size() == 3);
  CHECK(list[0] == 2);  // the last pushed is at the head, as Redis's LPUSH a b c
  CHECK(list[2] == 0);
  CHECK_THROWS_WITH(plugin.process_event(make_event("e", {{"n", 1001}})), Catch::Contains("more than the 1000"));
}

}  // namespace plugin_harness_test
