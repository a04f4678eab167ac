// Serve mode end to end: the real server on loopback, driven over HTTP with raw
// requests in every encoding, every error, and PostHog's own Node client.
#include <catch2/catch.hpp>
#include <httplib.h>

#include <posthog/timestamp.hpp>

#include <atomic>
#include <filesystem>
#include <set>
#include <thread>

#include "../capture/capture_test_support.hpp"
#include "serve_process.hpp"

namespace serve_test {

using posthog::testing::ServeProcess;

using posthog::testing::base64;
using posthog::testing::url_encode;

namespace {

boost::json::object config(boost::json::object serve = {}) {
  return {{"plugins", {boost::json::object{{"name", "helloworld"}}}},
          {"teams",
           {boost::json::object{{"id", 1}, {"token", "phc_one"}, {"plugins", {boost::json::object{{"name", "helloworld"}}}}},
            boost::json::object{{"id", 2}, {"token", "phc_two"}}}},
          {"serve", std::move(serve)}};
}

std::string event_json(const char* name = "signed up", const char* token = "phc_one") {
  return boost::json::serialize(boost::json::object{{"api_key", token}, {"event", name}, {"distinct_id", "alice"}});
}

boost::json::object body_of(const httplib::Result& r) {
  REQUIRE(r);
  return boost::json::parse(r->body).as_object();
}

}  // namespace

TEST_CASE("serve: every capture path accepts POST, with and without the slash", "[serve][http]") {
  ServeProcess server(config());
  httplib::Client client("127.0.0.1", server.port());
  int sent = 0;
  for (auto path : {"/e", "/e/", "/capture", "/capture/", "/batch", "/batch/", "/i/v0/e", "/i/v0/e/", "/track",
                    "/track/", "/engage/"}) {
    CAPTURE(path);
    auto r = client.Post(path, event_json(path), "application/json");
    REQUIRE(r);
    CHECK(r->status == 200);
    CHECK(r->body == R"({"status":1})");
    ++sent;
  }
  REQUIRE(server.stop() == 0);
  auto const events = server.sink_events();
  CHECK(events.size() == static_cast<std::size_t>(sent));
  for (auto const& e : events) {
    CHECK(e.at("team_id") == 1);                            // token -> team
    CHECK(e.at("properties").at("hello") == "world");       // the team's chain ran
    CHECK(e.at("uuid").as_string().size() == 36);
  }
}

TEST_CASE("serve: every body encoding PostHog clients use", "[serve][http][encodings]") {
  ServeProcess server(config());
  httplib::Client client("127.0.0.1", server.port());
  auto const body = event_json();
  auto const gz = posthog::testing::gzip(body);
  auto expect_ok = [](const httplib::Result& r) {
    REQUIRE(r);
    CHECK(r->status == 200);
  };
  expect_ok(client.Post("/e/", gz, "text/plain"));                                   // posthog-js: magic bytes only
  expect_ok(client.Post("/e/?compression=gzip-js&ver=1.449.0", gz, "text/plain"));   // legacy marker
  expect_ok(client.Post("/batch/", httplib::Headers{{"Content-Encoding", "gzip"}}, gz, "application/json"));  // posthog-node
  expect_ok(client.Post("/e/?compression=base64", "data=" + url_encode(base64(body)),
                        "application/x-www-form-urlencoded"));                      // sendBeacon
  expect_ok(client.Get(("/e/?ip=1&data=" + url_encode(base64(body))).c_str()));      // very old clients
  expect_ok(client.Post("/e/?compression=lz64", "data=" + url_encode(posthog::testing::lz_string_base64(body)),
                        "application/x-www-form-urlencoded"));                      // old posthog-js
  expect_ok(client.Post("/e/", "[" + body + "," + body + "]", "application/json"));  // a bare array
  REQUIRE(server.stop() == 0);
  CHECK(server.sink_events().size() == 8);
}

TEST_CASE("serve: errors are JSON bodies with the right status", "[serve][http][errors]") {
  ServeProcess server(config({{"max_body_bytes", 65536}, {"max_decoded_bytes", 65536}}));
  httplib::Client client("127.0.0.1", server.port());
  auto check = [&](const httplib::Result& r, int status, std::string_view code, std::string_view text) {
    REQUIRE(r);
    CHECK(r->status == status);
    auto const b = body_of(r);
    CHECK(b.at("status") == 0);
    CHECK(b.at("code").as_string() == code);
    CHECK_THAT(std::string(b.at("error").as_string()), Catch::Contains(std::string(text)));
  };
  check(client.Post("/e/", "{\"api_key\": \"phc_one\",\n \"event\": }", "application/json"), 400, "invalid_payload",
        "malformed JSON at line 2, column 11");
  check(client.Post("/e/", R"({"api_key":"phc_one","event":"e"})", "application/json"), 400, "invalid_event",
        "no distinct_id");
  check(client.Post("/e/", R"({"api_key":"phc_one","distinct_id":"d"})", "application/json"), 400, "invalid_event",
        "no name");
  check(client.Post("/e/", R"({"event":"e","distinct_id":"d"})", "application/json"), 401, "missing_token", "no project token");
  check(client.Post("/e/", event_json("e", "phc_unknown"), "application/json"), 401, "invalid_token",
        "unknown project token 'phc_unknown'");
  check(client.Post("/e/", std::string(70000, ' '), "application/json"), 413, "too_large", "65536 bytes");
  auto const bomb = posthog::testing::gzip(std::string(8 << 20, ' '));  // 8 MiB of spaces, ~8 KiB gzipped
  check(client.Post("/e/", bomb, "text/plain"), 413, "too_large", "decoded body is over the limit");
  check(client.Post("/e/", "not gzip, not JSON", "text/plain"), 400, "invalid_payload", "malformed JSON");
  check(client.Post("/e/", httplib::Headers{{"Content-Encoding", "br"}}, event_json(), "application/json"), 415,
        "unsupported_encoding", "Content-Encoding 'br' is not supported");
  auto r = client.Get("/nowhere");
  REQUIRE(r);
  CHECK(r->status == 404);
  // The server is still fine after all that.
  auto ok = client.Post("/e/", event_json(), "application/json");
  REQUIRE(ok);
  CHECK(ok->status == 200);
  REQUIRE(server.stop() == 0);
  CHECK(server.sink_events().size() == 1);
}

TEST_CASE("serve: a sink that cannot write is retried; what it never took stays in the log for the next start",
          "[serve][sink][log]") {
  // /dev/full fails every write with ENOSPC: the batch is held and retried
  // (the log fills meanwhile, and clients get 503 once it is full); at
  // shutdown the server gives up after a few tries, leaves the events in the
  // log and says so; the next start delivers them.
  auto const dir = std::filesystem::temp_directory_path() / ("posthog-sink-full-" + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  auto cfg = config({{"sink", {{"path", "/dev/full"}}}});
  {
    ServeProcess server(cfg, {}, dir);
    httplib::Client client("127.0.0.1", server.port());
    auto r = client.Post("/e/", event_json(), "application/json");
    REQUIRE(r);
    CHECK(r->status == 200);
    CHECK(server.stop() == 1);
    auto const errors = server.diagnostics("sink_error");
    REQUIRE(errors.size() >= 3);
    CHECK_THAT(std::string(errors[0].at("message").as_string()), Catch::Contains("No space left on device"));
    CHECK(server.diagnostics("summary").at(0).at("events_left_in_log") == 1);
  }
  cfg["serve"].as_object()["sink"] = boost::json::object{{"path", "events.jsonl"}};
  ServeProcess again(cfg, {}, dir);
  CHECK(again.diagnostics("event_log").at(0).at("redelivered_events") == 1);  // handed to the sink once: maybe twice
  REQUIRE(again.stop() == 0);
  REQUIRE(again.sink_events().size() == 1);
  CHECK(again.sink_events()[0].at("event") == "signed up");
  std::filesystem::remove_all(dir);
}

TEST_CASE("serve: a bad event in a batch is rejected alone and reported", "[serve][http]") {
  ServeProcess server(config());
  httplib::Client client("127.0.0.1", server.port());
  auto r = client.Post("/batch/", R"({"api_key":"phc_two","batch":[{"event":"a","distinct_id":"d"},{"event":"b"},
                                     {"event":"c","distinct_id":"e"}]})",
                       "application/json");
  auto const b = body_of(r);
  CHECK(r->status == 200);
  CHECK(b.at("status") == 1);
  REQUIRE(b.at("rejected").as_array().size() == 1);
  CHECK(b.at("rejected").at(0).at("index") == 1);
  CHECK(b.at("rejected").at(0).at("error") == "the event has no distinct_id");
  REQUIRE(server.stop() == 0);
  auto const events = server.sink_events();
  REQUIRE(events.size() == 2);
  for (auto const& e : events) CHECK(e.at("team_id") == 2);
}

TEST_CASE("serve: a batch larger than the pipeline holds is taken, not refused forever", "[serve][http][backpressure]") {
  // At most one event in flight in the pipeline: a batch of two waits in the
  // log and goes through when the pipeline is empty. (Before the log, it got
  // 503 every time, and a client honouring Retry-After retried it forever.)
  ServeProcess server(config({{"max_inflight_events", 1}}));
  httplib::Client client("127.0.0.1", server.port());
  auto r = client.Post("/batch/", R"({"api_key":"phc_one","batch":[{"event":"a","distinct_id":"d"},{"event":"b","distinct_id":"d"}]})",
                       "application/json");
  REQUIRE(r);
  CHECK(r->status == 200);
  REQUIRE(server.stop() == 0);
  CHECK(server.sink_events().size() == 2);
  CHECK(server.diagnostics("summary").at(0).at("refused_busy_requests") == 0);
}

TEST_CASE("serve: timestamps are corrected for the client's clock skew", "[serve][http]") {
  ServeProcess server(config());
  httplib::Client client("127.0.0.1", server.port());
  // The client's clock is a day behind: it says it sent at 10:00:10 an event from 10:00:00.
  auto r = client.Post("/batch/", R"({"api_key":"phc_one","sent_at":"2020-01-01T10:00:10.000Z",
      "batch":[{"event":"a","distinct_id":"d","timestamp":"2020-01-01T10:00:00.000Z"}]})",
                       "application/json");
  REQUIRE(r);
  REQUIRE(r->status == 200);
  REQUIRE(server.stop() == 0);
  auto const e = server.sink_events().at(0);
  auto const now = posthog::iso8601_millis(e.at("now").as_string());
  auto const timestamp = posthog::iso8601_millis(e.at("timestamp").as_string());
  REQUIRE(now);
  CHECK(*timestamp == *now - 10000);  // ten seconds before the server received it
  CHECK(e.at("sent_at") == "2020-01-01T10:00:10.000Z");
}

TEST_CASE("serve: X-Forwarded-For is believed only from a trusted proxy", "[serve][http]") {
  for (bool trusted : {false, true}) {
    boost::json::object serve;
    if (trusted) serve["trusted_proxies"] = {"127.0.0.1"};
    ServeProcess server(config(serve));
    httplib::Client client("127.0.0.1", server.port());
    auto r = client.Post("/e/", httplib::Headers{{"X-Forwarded-For", "81.2.69.142, 10.0.0.1"}}, event_json(),
                         "application/json");
    REQUIRE(r);
    REQUIRE(server.stop() == 0);
    CHECK(server.sink_events().at(0).at("ip") == (trusted ? "81.2.69.142" : "127.0.0.1"));
  }
}

TEST_CASE("serve: CORS preflight on capture paths", "[serve][http]") {
  ServeProcess server(config());
  httplib::Client client("127.0.0.1", server.port());
  auto r = client.Options("/e/", httplib::Headers{{"Origin", "https://app.example.com"},
                                                   {"Access-Control-Request-Headers", "content-type"}});
  REQUIRE(r);
  CHECK(r->status == 204);
  CHECK(r->get_header_value("Access-Control-Allow-Origin") == "https://app.example.com");
  CHECK(r->get_header_value("Access-Control-Allow-Credentials") == "true");
  CHECK(r->get_header_value("Access-Control-Expose-Headers") == "Retry-After");
}

TEST_CASE("serve: PostHog's Node client sends to it, end to end", "[serve][posthog-node]") {
  ServeProcess server(config());
  auto const script =
      "const { PostHog } = require(\"posthog-node\");"
      "const client = new PostHog(\"phc_one\", { host: \"" + server.url() + "\", flushAt: 10, flushInterval: 0 });"
      "for (let i = 0; i < 25; i++) client.capture({ distinctId: \"node-user\", event: \"node event \" + i, properties: { i } });"
      "client.identify({ distinctId: \"node-user\", properties: { plan: \"pro\" } });"
      "client.shutdown().then(() => process.stdout.write(\"flushed\"));";
  CHECK(posthog::testing::run_node(script) == "flushed");
  REQUIRE(server.stop() == 0);
  auto const events = server.sink_events();
  REQUIRE(events.size() == 26);
  std::set<std::int64_t> seen;
  for (auto const& e : events) {
    CHECK(e.at("team_id") == 1);
    CHECK(e.at("distinct_id") == "node-user");
    CHECK(e.at("properties").at("$lib") == "posthog-node");
    CHECK(e.at("properties").at("hello") == "world");
    if (e.at("event") != "$identify") seen.insert(e.at("properties").at("i").as_int64());
  }
  CHECK(seen.size() == 25);
}

TEST_CASE("serve: SIGTERM under load loses no event answered 200", "[serve][shutdown]") {
  ServeProcess server(config());
  std::atomic<bool> stop{false};
  std::vector<std::set<std::string>> acked(2);  // each client's own; read after join
  std::atomic<std::size_t> acked_count{0};
  std::vector<std::thread> clients;
  for (int c = 0; c < 2; ++c)
    clients.emplace_back([&, c] {
      httplib::Client client("127.0.0.1", server.port());
      for (int i = 0; !stop; ++i) {
        std::string const id = "c" + std::to_string(c) + "-" + std::to_string(i);
        char uuid[40];
        std::snprintf(uuid, sizeof uuid, "0190b2c4-0000-7000-8%03d-%012d", c, i);
        auto body = boost::json::serialize(boost::json::object{
            {"api_key", "phc_one"}, {"batch", {boost::json::object{{"event", "load"}, {"distinct_id", id}, {"uuid", uuid}}}}});
        auto r = client.Post("/batch/", body, "application/json");
        if (r && r->status == 200) acked[c].insert(uuid), ++acked_count;
        else if (!r) break;  // the server closed: it is shutting down
      }
    });
  // Until 300 events were acknowledged (or the clients gave up: a failure below).
  for (int waited = 0; acked_count < 300 && waited < 6000; ++waited)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  int const code = server.stop();
  stop = true;
  for (auto& t : clients) t.join();
  CHECK(code == 0);
  std::set<std::string> in_sink;
  for (auto const& e : server.sink_events()) in_sink.insert(std::string(e.at("uuid").as_string()));
  std::size_t missing = 0, total = 0;
  for (auto const& set : acked)
    for (auto const& uuid : set) {
      ++total;
      missing += !in_sink.count(uuid);
    }
  CHECK(total >= 300);
  CHECK(missing == 0);
}

}  // namespace serve_test
