// testkit: the loader and pipeline tests' fixture. Each event's properties say
// what to do: drop, throw (after half-writing the event), change_team, capture,
// capture_loop, throw_on_event, sleep_ms (a slow call); `seq` per distinct_id detects reordering;
// `remember` (a string) goes to storage and `recall` reads it back; `log` (a
// string) goes to the plugin's log. export_events logs "exported <seq,...>",
// unless the batch's first event says otherwise in `export`: "retry" (throws
// RetryError), "retry_then_ok" (RetryError for the first `export_retries`
// calls of this team copy), "fail" (throws another exception). A team copy
// labelled "exports down" answers every export with RetryError. Every export
// logs "export attempt <n> of <max>" first.
//
// Set-up: label "refuse" makes setup_team throw, "flaky setup N" throws for
// the first N set-ups of the team's copy. The `file` attachment, when there is
// one, is read at set-up and stamped on events as testkit_file.
//
// Misbehaving on request (serve.isolation's tests): `crash` is "segfault"
// (writes through a null pointer), "abort", "hang" (never returns) or "alloc"
// (allocates until the allocation fails) in process_event; `crash_on_event`
// the same in on_event; label "crash setup" segfaults in setup_team; job
// "crash" segfaults.
//
// meta pieces: `metric_sum`, `metric_max`, `metric_min` (numbers) update the
// declared metrics "events" (sum), "largest" (max) and "smallest" (min);
// `wrong_metric` calls increment() on the max; `cursor` (a key) stamps
// cursor_value from utils.cursor.increment; `list_push` (an array) goes to
// cache.lpush_many("list"); every event stamps testkit_global_calls, a count
// kept in meta.global.
//
// Jobs: an event with `job` (a name) queues that job with `job_payload`, in
// `job_in_seconds` or now. "remember" stores payload.value under "job/<value>"
// and logs "job remember <value> attempt <n> of <max>"; "flaky" throws
// RetryError until its attempt passes payload.fails, then logs "job flaky ok
// at attempt <n> of <max>"; "explode" throws; "capture" captures an event
// "captured by job" with payload.origin. run_every_minute / run_every_hour log
// their name and count their runs in the cache ("minute_runs").
#include <sys/mman.h>

#include <posthog/plugin.hpp>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <boost/json/value_to.hpp>
#include <memory>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace {

std::atomic<int> instance_setups{0};

[[noreturn]] void misbehave(std::string_view how) {
  if (how == "abort") std::abort();
  if (how == "hang")
    for (;;) std::this_thread::sleep_for(std::chrono::seconds(1));
  if (how == "alloc") {
    // Kept where the optimiser cannot drop it, touched so it is real.
    static std::vector<std::unique_ptr<char[]>> hoard;
    for (;;) {
      hoard.push_back(std::make_unique<char[]>(64 << 20));
      std::memset(hoard.back().get(), 1, 64 << 20);
    }
  }
  // A write to a page mapped without access: a real SIGSEGV. Not a null
  // dereference, which UBSan reports (and ends the process on) before it faults.
  void* const page = ::mmap(nullptr, 4096, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  *static_cast<volatile int*>(page) = 1;
  std::abort();  // not reached
}

void misbehave_if_asked(const posthog::Event& e, std::string_view key) {
  if (auto const* how = e.property(key); how && how->is_string()) misbehave(how->get_string());
}

struct Shared {
  int id;
};

bool flag(const posthog::Event& e, std::string_view key) {
  auto const* v = e.property(key);
  return v && v->is_bool() && v->get_bool();
}

class Testkit {
 public:
  static std::shared_ptr<Shared> setup_instance(posthog::InstanceContext& ctx) {
    if (auto const* fail = ctx.settings.if_contains("fail"); fail && fail->as_bool())
      throw std::runtime_error("instance settings asked setup_instance to fail");
    return std::make_shared<Shared>(Shared{++instance_setups});
  }

  Testkit(posthog::TeamContext& team, Shared& shared)
      : shared_(shared),
        label_(team.config.string("label")),
        api_key_length_(team.config.find_string("api_key").value_or("").size()),
        quiet_(team.config.string("mode") == "quiet") {
    if (label_ == "refuse") throw std::invalid_argument("label 'refuse' makes setup_team throw");
    if (label_ == "crash setup") misbehave("segfault");
    // "flaky setup N": the first N set-ups of this team's copy throw (counted in its cache).
    if (label_.rfind("flaky setup ", 0) == 0 &&
        team.meta.cache.incr("setup_attempts") <= std::stoi(label_.substr(12)))
      throw std::runtime_error("the remote this plugin needs at set-up is down");
    max_ = team.config.json("rules").as_object().at("max").to_number<int>();
    std::optional<posthog::Attachment> a;
    try {
      a = team.meta.attachments.get("file");
    } catch (const std::runtime_error& e) {  // its store out of reach (Redis down at start): none then
      team.meta.logger.warn(std::string("no attachment: ") + e.what());
    }
    if (a) {
      static constexpr char hex[] = "0123456789abcdef";
      std::string bytes;
      for (unsigned char c : a->contents) bytes += hex[c >> 4], bytes += hex[c & 15];
      file_ = boost::json::object{{"file_name", a->file_name}, {"content_type", a->content_type},
                                  {"size", a->contents.size()}, {"hex", bytes}};
    }
  }
  static constexpr posthog::MetricDeclaration metrics[] = {{"events", posthog::MetricKind::sum},
                                                           {"largest", posthog::MetricKind::max},
                                                           {"smallest", posthog::MetricKind::min}};

  bool process_event(posthog::Event& event, posthog::Meta& meta) {
    misbehave_if_asked(event, "crash");
    if (auto const* ms = event.property("sleep_ms"); ms && ms->is_int64())
      std::this_thread::sleep_for(std::chrono::milliseconds(ms->get_int64()));
    if (flag(event, "drop")) return false;
    auto& props = event.properties();
    if (flag(event, "throw")) {
      props["half_written"] = true;
      throw std::runtime_error("asked to throw");
    }
    if (flag(event, "change_team")) event.raw()["team_id"] = 999;
    if (flag(event, "capture")) meta.capture("captured by testkit", {{"origin", event.uuid()}});
    if (flag(event, "capture_loop")) meta.capture("loop", {{"capture_loop", true}});
    if (auto const* seq = event.property("seq"); seq && seq->is_int64()) {
      std::string key = "seq/" + std::string(event.distinct_id());
      auto last = meta.cache.get(key, -1).as_int64();
      if (seq->get_int64() <= last) props["out_of_order"] = true;
      meta.cache.set(key, seq->get_int64());
    }
    if (auto const* r = event.property("remember"); r && r->is_string()) meta.storage.set("remembered", *r);
    if (flag(event, "recall")) props["recalled"] = meta.storage.get("remembered", nullptr);
    if (auto const* l = event.property("log"); l && l->is_string()) meta.logger.info(l->get_string());
    if (auto const* job = event.property("job"); job && job->is_string()) {
      auto const* payload = event.property("job_payload");
      auto request = meta.jobs(job->get_string(), payload ? *payload : boost::json::value());
      if (auto const* in = event.property("job_in_seconds"); in && in->is_number())
        request.run_in(std::chrono::seconds(in->to_number<int>()));
      else
        request.run_now();
    }
    if (auto const* n = event.property("metric_sum"); n && n->is_number()) meta.metrics("events").increment(n->to_number<double>());
    if (auto const* n = event.property("metric_max"); n && n->is_number()) meta.metrics("largest").max(n->to_number<double>());
    if (auto const* n = event.property("metric_min"); n && n->is_number()) meta.metrics("smallest").min(n->to_number<double>());
    if (flag(event, "wrong_metric")) meta.metrics("largest").increment();
    if (auto const* key = event.property("cursor"); key && key->is_string())
      props["cursor_value"] = meta.utils.cursor.increment(key->get_string());
    if (auto const* values = event.property("list_push"); values && values->is_array())
      props["list_length"] = meta.cache.lpush_many("list", values->get_array());
    auto const calls =
        meta.global.with([](boost::json::object& g) { return g["calls"] = g["calls"].is_int64() ? g["calls"].get_int64() + 1 : 1; });
    if (!quiet_) {
      props["testkit_global_calls"] = calls;
      if (!file_.empty()) props["testkit_file"] = file_;
      props["testkit_label"] = label_;
      props["testkit_api_key_length"] = api_key_length_;
      props["testkit_instance"] = shared_.id;
      props["testkit_instance_setups"] = instance_setups.load();
      props["testkit_max"] = max_;
    }
    return true;
  }

  void export_events(std::span<const posthog::Event> batch, posthog::Meta& meta) {
    meta.logger.debug("export attempt " + std::to_string(meta.attempt()) + " of " + std::to_string(meta.max_attempts()));
    if (label_ == "exports down") throw posthog::RetryError("the receiver is down (this team's label says so)");
    std::string mode;
    if (auto const* m = batch.front().property("export"); m && m->is_string()) mode = m->get_string();
    if (mode == "retry") throw posthog::RetryError("the receiver is down");
    if (mode == "retry_then_ok") {
      auto const* n = batch.front().property("export_retries");
      if (export_calls_.fetch_add(1) < (n ? n->to_number<int>() : 1))
        throw posthog::RetryError("the receiver answered 503");
    }
    if (mode == "fail") throw std::invalid_argument("the receiver refused the batch: 400");
    std::string seqs;
    for (auto const& e : batch) {
      auto const* seq = e.property("seq");
      seqs += (seqs.empty() ? "" : ",") + (seq ? std::to_string(seq->to_number<std::int64_t>()) : std::string("?"));
    }
    meta.logger.info("exported " + seqs);
  }

  void remember(const boost::json::value& payload, posthog::Meta& meta) {
    auto const value = boost::json::value_to<std::string>(payload.at("value"));
    meta.storage.set("job/" + value, static_cast<std::int64_t>(meta.attempt()));
    meta.logger.info("job remember " + value + " attempt " + std::to_string(meta.attempt()) + " of " +
                     std::to_string(meta.max_attempts()));
  }
  void flaky(const boost::json::value& payload, posthog::Meta& meta) {
    if (meta.attempt() <= payload.at("fails").to_number<std::uint32_t>())
      throw posthog::RetryError("flaky job failed at attempt " + std::to_string(meta.attempt()));
    meta.logger.info("job flaky ok at attempt " + std::to_string(meta.attempt()) + " of " +
                     std::to_string(meta.max_attempts()));
  }
  void explode(const boost::json::value&, posthog::Meta&) { throw std::logic_error("the job exploded"); }
  void crash(const boost::json::value&, posthog::Meta&) { misbehave("segfault"); }
  void capture(const boost::json::value& payload, posthog::Meta& meta) {
    meta.capture("captured by job", {{"origin", payload.at("origin")}, {"distinct_id", "job"}});
  }
  static constexpr posthog::Job<Testkit> jobs[] = {
      {"remember", &Testkit::remember}, {"flaky", &Testkit::flaky}, {"explode", &Testkit::explode},
      {"capture", &Testkit::capture}, {"crash", &Testkit::crash}};

  void run_every_minute(posthog::Meta& meta) {
    meta.cache.incr("minute_runs");
    meta.logger.info("run_every_minute");
  }
  void run_every_hour(posthog::Meta& meta) { meta.logger.info("run_every_hour"); }

  void on_event(const posthog::Event& event, posthog::Meta& meta) {
    if (flag(event, "throw_on_event")) throw std::runtime_error("on_event asked to throw");
    misbehave_if_asked(event, "crash_on_event");
    meta.cache.incr("on_event_count");
  }

 private:
  Shared& shared_;
  std::string label_;
  std::size_t api_key_length_;
  bool quiet_;
  int max_ = 0;
  boost::json::object file_;
  std::atomic<int> export_calls_{0};
};

}  // namespace

POSTHOG_PLUGIN(Testkit)
