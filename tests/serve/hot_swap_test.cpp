// Hot swap under load, end to end: the real server (serve mode over HTTP, and
// process mode over a pipe) swaps swapkit between two builds again and again
// while clients keep sending, with broken builds mixed in, through every
// trigger (the folder watch, SIGHUP, the admin API).
//
// What it proves, from the sink after a draining stop:
//   - every acknowledged event is there exactly once;
//   - each carries exactly one version stamp, of a build that was serving;
//   - an event sent after a swap was confirmed was processed by that swap's
//     instance or a later one (the instance's start time is stamped on the
//     event, and compared with the moment the swap began);
//   - each broken build was refused at its step while the last good one kept
//     serving.
// Under ASan and TSan (the sanitizer CI runs) it also shows that no module or
// team copy is used after it was released.
#include <catch2/catch.hpp>
#include <httplib.h>

#include <boost/json.hpp>
#include <signal.h>
#include <time.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <thread>

#include "serve_process.hpp"

namespace hot_swap_test {

using posthog::testing::ServeProcess;
namespace fs = std::filesystem;

namespace {

constexpr const char* admin_token = "hot-swap-admin-token-0123456789";

std::int64_t monotonic_ns() {
  timespec now{};
  clock_gettime(CLOCK_MONOTONIC, &now);
  return now.tv_sec * 1'000'000'000ll + now.tv_nsec;
}

fs::path swapkit_build(const std::string& name) {
  return fs::path(POSTHOG_TEST_MODULES_DIR) / "swapkit" / (name + ".so");
}

// Into place the way a build script should do it: write aside, rename over.
void place(const fs::path& plugins, const std::string& build) {
  fs::copy_file(swapkit_build(build), plugins / "swapkit.so.tmp", fs::copy_options::overwrite_existing);
  fs::rename(plugins / "swapkit.so.tmp", plugins / "swapkit.so");
}
void place_truncated(const fs::path& plugins) {
  fs::copy_file(swapkit_build("v2"), plugins / "swapkit.so.tmp", fs::copy_options::overwrite_existing);
  fs::resize_file(plugins / "swapkit.so.tmp", fs::file_size(plugins / "swapkit.so.tmp") / 3);
  fs::rename(plugins / "swapkit.so.tmp", plugins / "swapkit.so");
}

struct Broken {
  const char* build;  // nullptr: a truncated copy of v2
  const char* step;
};
constexpr Broken broken_builds[] = {{"bad_abi", "descriptor"},
                                    {"no_entry", "entry_symbol"},
                                    {"throws_in_setup_instance", "setup_instance"},
                                    {"strict_schema", "team_config"},
                                    {nullptr, "elf"}};

// When each confirmed swap began, and which version it brought. An event
// sent after swap k was confirmed must come from an instance set up after
// began[k].
struct SwapLedger {
  std::mutex mutex;
  std::vector<std::int64_t> began;
  std::vector<std::string> version;
  std::atomic<int> confirmed{0};

  void confirm(std::int64_t began_ns, std::string v) {
    {
      std::lock_guard lock(mutex);
      began.push_back(began_ns);
      version.push_back(std::move(v));
    }
    confirmed.store(static_cast<int>(began.size()));
  }
};

// Checks one processed event against the ledger; returns what is wrong ("" if nothing).
std::string check_event(const std::string& line, const boost::json::object& event, SwapLedger& ledger) {
  auto const& p = event.at("properties").as_object();
  std::size_t stamps = 0;
  for (auto at = line.find("\"swapkit_version\""); at != std::string::npos;
       at = line.find("\"swapkit_version\"", at + 1))
    ++stamps;
  if (stamps != 1) return "event carries " + std::to_string(stamps) + " version stamps: " + line;
  auto const version = std::string(p.at("swapkit_version").as_string());
  if (version != "1.0.0" && version != "2.0.0") return "a version that never served stamped: " + line;
  auto const sent_after = p.at("sent_after").to_number<int>();
  if (sent_after > 0) {
    std::lock_guard lock(ledger.mutex);
    auto const instance_ns = p.at("swapkit_instance_ns").as_int64();
    if (instance_ns <= ledger.began[static_cast<std::size_t>(sent_after - 1)])
      return "sent after swap " + std::to_string(sent_after) + " was confirmed, processed by an older instance: " +
             line;
  }
  return "";
}

// Checks every processed event in `file` against the ledger (reporting the
// first few problems); how many times each seq is there.
std::map<std::int64_t, int> checked_output(const fs::path& file, SwapLedger& ledger) {
  std::map<std::int64_t, int> seen;
  std::ifstream in(file);
  std::size_t problems = 0;
  for (std::string line; std::getline(in, line);) {
    auto const event = boost::json::parse(line).as_object();
    ++seen[event.at("properties").at("seq").as_int64()];
    auto const why = check_event(line, event, ledger);
    if (!why.empty() && ++problems <= 5) FAIL_CHECK(why);
  }
  CHECK(problems == 0);
  return seen;
}

struct Admin {
  httplib::Client client;
  explicit Admin(int port) : client("127.0.0.1", port) {
    client.set_bearer_token_auth(admin_token);
    client.set_read_timeout(60, 0);
  }
  boost::json::object swapkit() {
    auto r = client.Get("/api/plugins/swapkit");
    REQUIRE(r);
    REQUIRE(r->status == 200);
    return boost::json::parse(r->body).as_object();
  }
  std::string serving_version() {
    auto o = swapkit();
    return o.at("serving").is_object() ? std::string(o.at("serving").at("version").as_string()) : "";
  }
  httplib::Result post(const std::string& path) { return client.Post(path.c_str(), "", "application/json"); }
};

// Stops and joins the load threads however the test ends (a failed REQUIRE
// throws past them).
struct LoadThreads {
  std::atomic<bool>& stop;
  std::vector<std::thread> threads;
  ~LoadThreads() { finish(); }
  void finish() {
    stop = true;
    for (auto& t : threads)
      if (t.joinable()) t.join();
  }
};

// Polls until the serving version is `version` (a trigger that answers nothing).
void wait_for_version(Admin& admin, const std::string& version) {
  for (int i = 0; i < 3000 && admin.serving_version() != version; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  REQUIRE(admin.serving_version() == version);
}

}  // namespace

TEST_CASE("hot swap: 100 swaps under HTTP load, broken builds refused, nothing lost or mixed", "[serve][swap]") {
  auto const plugins = fs::temp_directory_path() / ("posthog-hot-swap-" + std::to_string(::getpid()));
  fs::remove_all(plugins);
  fs::create_directories(plugins);
  place(plugins, "v1");
  boost::json::object config{
      {"plugins_dir", plugins.string()},
      {"plugins", {boost::json::object{{"name", "swapkit"}}}},
      {"teams", {boost::json::object{{"id", 1}, {"token", "phc_swap"},
                                     {"plugins", {boost::json::object{{"name", "swapkit"}}}}}}},
      {"serve", {{"admin", {{"listen", "127.0.0.1:0"}, {"token", admin_token}}}}}};
  ServeProcess server(config);
  Admin admin(server.admin_port());
  REQUIRE(admin.serving_version() == "1.0.0");

  SwapLedger ledger;
  std::atomic<bool> stop{false};
  std::vector<std::vector<std::int64_t>> acked(2);
  LoadThreads clients{stop, {}};
  for (std::int64_t c = 0; c < 2; ++c)
    clients.threads.emplace_back([&, c] {
      httplib::Client http("127.0.0.1", server.port());
      for (std::int64_t n = 0; !stop.load();) {
        int const sent_after = ledger.confirmed.load();
        boost::json::array batch;
        std::vector<std::int64_t> seqs;
        for (int i = 0; i < 20; ++i, ++n) {
          seqs.push_back((c << 32) | n);
          batch.push_back(boost::json::object{
              {"event", "e"},
              {"distinct_id", "user-" + std::to_string(n % 7)},
              {"properties", {{"seq", seqs.back()}, {"sent_after", sent_after}}}});
        }
        auto r = http.Post("/batch/", boost::json::serialize(boost::json::object{{"api_key", "phc_swap"}, {"batch", batch}}),
                           "application/json");
        if (r && r->status == 200) {
          auto& mine = acked[static_cast<std::size_t>(c)];
          mine.insert(mine.end(), seqs.begin(), seqs.end());
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(1));  // steady, not flooding
      }
    });

  std::string serving = "1.0.0";
  std::map<std::string, int> refused_by_step;
  for (int i = 0; i < 100; ++i) {
    if (i % 10 == 5) {  // a broken build, through the admin API: refused, the last good one keeps serving
      auto const& b = broken_builds[(i / 10) % 5];
      if (b.build) place(plugins, b.build);
      else place_truncated(plugins);
      auto r = admin.post("/api/plugins/swapkit/reload");
      REQUIRE(r);
      INFO(r->body);
      CHECK(r->status == 422);
      auto body = boost::json::parse(r->body).as_object();
      CHECK(body.at("refusal").at("step").as_string() == b.step);
      ++refused_by_step[b.step];
      CHECK(admin.serving_version() == serving);
    }
    std::string const next = serving == "1.0.0" ? "2.0.0" : "1.0.0";
    auto const began = monotonic_ns();
    place(plugins, next == "1.0.0" ? "v1" : "v2");
    switch (i % 4) {
      case 0: wait_for_version(admin, next); break;  // the folder watch alone
      case 1:
        ::kill(server.pid(), SIGHUP);
        wait_for_version(admin, next);
        break;
      default: {
        auto r = admin.post("/api/plugins/swapkit/reload");
        REQUIRE(r);
        INFO(r->body);
        REQUIRE(r->status == 200);  // swapped, or unchanged when the watch got there first
        CHECK(admin.serving_version() == next);
      }
    }
    ledger.confirm(began, next);
    serving = next;
  }

  // Rollback goes back to the version before, under load too.
  auto const previous = serving == "1.0.0" ? "2.0.0" : "1.0.0";
  auto const began = monotonic_ns();
  auto r = admin.post("/api/plugins/swapkit/rollback");
  REQUIRE(r);
  REQUIRE(r->status == 200);
  CHECK(admin.serving_version() == previous);
  ledger.confirm(began, previous);
  std::this_thread::sleep_for(std::chrono::milliseconds(100));  // some load after the rollback

  clients.finish();
  auto const state = admin.swapkit();
  REQUIRE(server.stop() == 0);

  CHECK(state.at("swaps").to_number<int>() >= 101);
  CHECK(state.at("previous").at("version").as_string() == serving);
  bool saw_team_field = false;
  for (auto const& f : state.at("failed").as_array())
    if (f.at("step") == "team_config") saw_team_field = f.as_object().contains("team_id") && f.at("field") == "region";
  CHECK(saw_team_field);
  CHECK(refused_by_step.size() == 5);

  auto seen = checked_output(server.dir() / "events.jsonl", ledger);
  std::size_t missing = 0, total = 0;
  for (auto const& client : acked)
    for (auto seq : client) {
      ++total;
      if (seen[seq] != 1) ++missing;
    }
  INFO(total << " events acknowledged");
  CHECK(total > 0);
  CHECK(missing == 0);  // each acknowledged event exactly once
  std::size_t duplicated = 0;
  for (auto const& [seq, n] : seen) duplicated += n > 1;
  CHECK(duplicated == 0);
  fs::remove_all(plugins);
}

TEST_CASE("hot swap: process mode swaps on the folder watch and SIGHUP while reading its input", "[serve][swap]") {
  auto const dir = fs::temp_directory_path() / ("posthog-hot-swap-process-" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir / "plugins");
  place(dir / "plugins", "v1");
  std::ofstream(dir / "config.json") << boost::json::serialize(boost::json::object{
      {"plugins_dir", (dir / "plugins").string()},
      {"plugins", {boost::json::object{{"name", "swapkit"}}}},
      {"teams", {boost::json::object{{"id", 1}, {"plugins", {boost::json::object{{"name", "swapkit"}}}}}}}});

  std::string const config_path = (dir / "config.json").string(), out_path = (dir / "out.jsonl").string(),
                    err_path = (dir / "err.log").string();
  posthog::testing::ChildProcess server({POSTHOG_SERVER_BINARY, "process", "--config", config_path},
                                        {.pipe_input = true, .output = out_path, .errors = err_path});

  // The swaps the server reported as done, from its stderr.
  auto swaps_reported = [&](const char* outcome) {
    int n = 0;
    std::ifstream in(err_path);
    for (std::string line; std::getline(in, line);) {
      std::error_code ec;
      auto v = boost::json::parse(line, ec);
      if (!ec && v.is_object() && v.as_object().contains("type") && v.at("type") == "swap" &&
          v.at("outcome") == outcome)
        ++n;
    }
    return n;
  };
  auto wait_for = [&](const char* outcome, int count) {
    for (int i = 0; i < 3000 && swaps_reported(outcome) < count; ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    REQUIRE(swaps_reported(outcome) >= count);
  };

  SwapLedger ledger;
  std::atomic<bool> stop{false};
  std::int64_t written = 0;
  LoadThreads writer{stop, {}};
  writer.threads.emplace_back([&] {
    for (; !stop.load(); ++written) {
      std::string line = boost::json::serialize(boost::json::object{
          {"event", "e"}, {"distinct_id", "d"}, {"team_id", 1},
          {"properties", {{"seq", written}, {"sent_after", ledger.confirmed.load()}}}}) + "\n";
      if (::write(server.input_fd(), line.data(), line.size()) != static_cast<ssize_t>(line.size())) break;
      if (written % 8 == 0) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
  });

  // The server watches its folder from before it reads its first line.
  auto output_bytes = [&] {
    std::error_code ec;
    auto const n = fs::file_size(out_path, ec);
    return ec ? 0 : n;
  };
  for (int i = 0; i < 3000 && output_bytes() == 0; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  REQUIRE(output_bytes() > 0);

  std::string serving = "1.0.0";
  for (int i = 0; i < 20; ++i) {
    if (i == 10) {  // a broken build, picked up by the watch and refused
      place(dir / "plugins", "no_entry");
      wait_for("refused", 1);
    }
    std::string const next = serving == "1.0.0" ? "2.0.0" : "1.0.0";
    auto const began = monotonic_ns();
    place(dir / "plugins", next == "1.0.0" ? "v1" : "v2");
    if (i % 2) server.signal(SIGHUP);
    wait_for("swapped", i + 1);
    ledger.confirm(began, next);
    serving = next;
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  writer.finish();
  server.close_input();
  CHECK(server.wait() == 0);

  auto seen = checked_output(out_path, ledger);
  INFO(written << " lines written");
  CHECK(static_cast<std::int64_t>(seen.size()) == written);  // every line, once
  std::size_t duplicated = 0;
  for (auto const& [seq, n] : seen) duplicated += n != 1;
  CHECK(duplicated == 0);
  fs::remove_all(dir);
}

}  // namespace hot_swap_test
