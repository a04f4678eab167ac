// Jobs in the real server: an event's plugin queues a job (meta.jobs), a job
// thread runs it, and the event the job captures goes through the pipeline
// into the sink; a job queued for later survives SIGKILL; a failed job is
// listed and replayed through the admin API.
#include <catch2/catch.hpp>
#include <httplib.h>

#include <boost/json.hpp>
#include <thread>

#include "serve_process.hpp"

namespace jobs_test {

using posthog::testing::ServeProcess;
using posthog::testing::wait_until;

namespace {

constexpr const char* admin_token = "jobs-test-admin-token-0123456789";

boost::json::object jobs_config() {
  return {{"plugins", {posthog::testing::testkit_plugin()}},
          {"teams", {boost::json::object{{"id", 1}, {"token", "phc_one"},
                                         {"plugins", {boost::json::object{{"name", "testkit"},
                                                                          {"config", {{"label", "one"}}}}}}}}},
          {"serve", {{"store", "store.db"},
                     {"jobs", {{"retry_base_seconds", 1}}},
                     {"admin", {{"listen", "127.0.0.1:0"}, {"token", admin_token}}}}}};
}

boost::json::object admin_get(const ServeProcess& s, const std::string& path) {
  return posthog::testing::admin_get(s, admin_token, path);
}

// An event whose testkit plugin queues `job` with `payload` (in `in_seconds`).
void send_job_event(const ServeProcess& s, const std::string& job, boost::json::object payload, int in_seconds = 0) {
  boost::json::object properties{{"job", job}, {"job_payload", std::move(payload)}};
  if (in_seconds) properties["job_in_seconds"] = in_seconds;
  posthog::testing::post_event(s, {.event = "queue a job", .properties = std::move(properties)});
}

// Events "captured by job" in the sink, by origin.
std::vector<std::string> captured_by_jobs(const ServeProcess& s) {
  std::vector<std::string> out;
  for (auto const& e : s.sink_events())
    if (e.at("event") == "captured by job") out.emplace_back(e.at("properties").at("origin").as_string());
  return out;
}


}  // namespace

TEST_CASE("jobs: an event queues a job, and the event the job captures reaches the sink", "[serve][jobs]") {
  ServeProcess server(jobs_config());
  send_job_event(server, "capture", {{"origin", "first"}});
  wait_until([&] { return captured_by_jobs(server) == std::vector<std::string>{"first"}; },
             "the job's event is in the sink");
  // The event is in the log once captured; the job counts as done once it returned.
  wait_until([&] { return admin_get(server, "/api/teams/1/plugins/testkit/jobs").at("succeeded").to_number<int>() >= 1; },
             "the job to finish");
  auto const status = admin_get(server, "/api/teams/1/plugins/testkit/jobs");
  CHECK(status.at("declared") == boost::json::array{"remember", "flaky", "explode", "capture", "crash"});
  CHECK(status.at("succeeded").to_number<int>() == 1);  // scheduled runs (a minute may turn) count apart
  for (auto const& job : status.at("queued_jobs").as_array()) CHECK(job.at("name") != "capture");
  auto const overview = admin_get(server, "/api/jobs");
  REQUIRE(overview.at("schedules").as_array().size() == 3);
  CHECK(overview.at("schedules").at(0).at("task") == "run_every_minute");
  CHECK(overview.at("schedules").at(0).at("next_run").is_string());

  httplib::Client admin("127.0.0.1", server.admin_port());
  admin.set_bearer_token_auth(admin_token);
  auto metrics = admin.Get("/metrics");
  REQUIRE(metrics);
  CHECK(metrics->body.find("posthog_job_runs_total{plugin=\"testkit\",outcome=\"ok\"} 1") != std::string::npos);
  CHECK(metrics->body.find("posthog_jobs{state=\"failed\"} 0") != std::string::npos);
  CHECK(metrics->body.find("posthog_schedule_next_run_timestamp_seconds{task=\"run_every_day\"}") !=
        std::string::npos);
  CHECK(server.stop() == 0);
}

TEST_CASE("jobs: a job queued for later survives SIGKILL and runs after the restart", "[serve][jobs]") {
  auto const dir = std::filesystem::temp_directory_path() / ("posthog-jobs-crash-" + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  {
    ServeProcess server(jobs_config(), {}, dir);
    send_job_event(server, "capture", {{"origin", "before the crash"}}, 2);
    wait_until([&] { return admin_get(server, "/api/jobs").at("queued").to_number<int>() == 1; },
               "the job is queued");
    server.kill_hard();
  }
  {
    ServeProcess server(jobs_config(), {}, dir);
    wait_until([&] { return captured_by_jobs(server) == std::vector<std::string>{"before the crash"}; },
               "the job ran after the restart");
    CHECK(server.stop() == 0);
  }
  std::filesystem::remove_all(dir);
}

TEST_CASE("jobs: a failed job is listed with its error and replayed through the admin API", "[serve][jobs]") {
  ServeProcess server(jobs_config());
  send_job_event(server, "explode", {{"n", 1}});
  wait_until([&] { return admin_get(server, "/api/teams/1/plugins/testkit/jobs").at("failed").to_number<int>() == 1; },
             "the job failed");
  auto const status = admin_get(server, "/api/teams/1/plugins/testkit/jobs");
  auto const& failed = status.at("failed_jobs").as_array();
  REQUIRE(failed.size() == 1);
  CHECK(failed[0].at("name") == "explode");
  CHECK(failed[0].at("payload") == boost::json::object{{"n", 1}});
  CHECK(std::string(failed[0].at("last_error").as_string()).find("the job exploded") != std::string::npos);
  auto const errors = admin_get(server, "/api/teams/1/plugins/testkit/errors");
  CHECK(errors.at("errors").at(0).at("hook") == "job:explode");

  httplib::Client admin("127.0.0.1", server.admin_port());
  admin.set_bearer_token_auth(admin_token);
  auto const path = "/api/jobs/" + std::to_string(failed[0].at("id").to_number<std::int64_t>()) + "/replay";
  auto replayed = admin.Post(path.c_str(), "", "application/json");
  REQUIRE(replayed);
  CHECK(replayed->status == 200);
  auto missing = admin.Post("/api/jobs/999999/replay", "", "application/json");
  REQUIRE(missing);
  CHECK(missing->status == 404);
  wait_until([&] { return admin_get(server, "/api/teams/1/plugins/testkit/jobs").at("failures").to_number<int>() == 2; },
             "the replayed job ran (and exploded) again");
  CHECK(server.stop() == 0);
}

}  // namespace jobs_test
