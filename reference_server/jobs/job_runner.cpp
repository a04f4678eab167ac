#include "job_runner.hpp"

#include <boost/json/object.hpp>
#include <boost/json/serialize.hpp>

#include <algorithm>
#include <cstdio>

#include "health/hook_calls.hpp"
#include "scheduled_tasks.hpp"

namespace posthog::server {

namespace {

// The job as the error log shows it, next to the error.
std::string job_text(const Job& job) {
  boost::json::object o{{"id", job.id}, {"name", job.name}, {"attempt", job.attempt + 1}};
  auto text = boost::json::serialize(o);
  text.pop_back();  // the payload is JSON text already: spliced in, not quoted
  return text + ",\"payload\":" + job.payload.substr(0, 64 * 1024) + "}";
}

const TeamPlugin* find_copy(const ChainSet& set, std::int64_t team_id, const std::string& plugin) {
  if (auto const* chain = set.chain(team_id))
    for (auto const& p : chain->plugins())
      if (p->name() == plugin) return p.get();
  return nullptr;
}

}  // namespace


JobRunner::JobRunner(JobQueue& queue, const LiveChains& chains, PluginLog& log, JobPolicy policy, Clock now)
    : queue_(queue),
      chains_(chains),
      log_(log),
      policy_(policy),
      now_(std::move(now)),
      backoff_(policy_.retry_base, policy_.jitter) {
  if (auto const n = queue_.requeue_running())
    log_.log({0, "jobs", POSTHOG_LOG_WARN,
              std::to_string(n) + " jobs were running when the server stopped; they run again (at least once)",
              std::chrono::system_clock::now()});
}

JobRunner::~JobRunner() { stop(); }

void JobRunner::enqueue(std::int64_t team_id, const std::string& plugin, std::string_view name,
                        std::string_view payload_json, std::int64_t run_at_ms) {
  auto const now = now_();
  queue_.enqueue(team_id, plugin, name, payload_json.empty() ? std::string_view("null") : payload_json, run_at_ms,
                 now);
  if (run_at_ms <= now) wake();
}

void JobRunner::wake() {
  {
    std::lock_guard lock(wake_mutex_);
    ++wakeups_;
  }
  wake_.notify_all();
}

bool JobRunner::run_one() {
  auto job = queue_.claim(now_());
  if (!job) return false;
  running_.fetch_add(1, std::memory_order_relaxed);
  try {
    run(*job);
  } catch (const JobClaimLost& e) {
    running_.fetch_sub(1, std::memory_order_relaxed);
    log_.log({job->team_id, job->plugin, POSTHOG_LOG_WARN, e.what(), std::chrono::system_clock::now()});
    return true;
  } catch (const std::exception& e) {
    running_.fetch_sub(1, std::memory_order_relaxed);
    // The outcome could not be recorded (the store failed): put the job back
    // to run again (at least once) rather than leave it running until a restart.
    std::string const why = std::string("the server could not record the job's outcome: ") + e.what();
    try {
      queue_.retry_later(job->id, job->attempt, now_() + 1'000, why, job->claim);
    } catch (const std::exception& again) {
      log_.log({job->team_id, job->plugin, POSTHOG_LOG_ERROR,
                "job " + std::to_string(job->id) + " stays marked running until the next start: " + again.what(),
                std::chrono::system_clock::now()});
    }
    throw;  // the job thread logs it
  }
  running_.fetch_sub(1, std::memory_order_relaxed);
  return true;
}

std::size_t JobRunner::step() {
  std::size_t ran = 0;
  while (run_one()) ++ran;
  return ran;
}

void JobRunner::count(const Job& job, const std::function<void(JobTally&)>& change) {
  std::lock_guard lock(tally_mutex_);
  change(tallies_[{job.team_id, job.plugin}]);
}

std::map<std::pair<std::int64_t, std::string>, JobTally> JobRunner::tallies() const {
  std::lock_guard lock(tally_mutex_);
  return tallies_;
}

void JobRunner::run(const Job& job) {
  auto const set = chains_.current();  // pinned for the call: a swap cannot tear the copy down under it
  const TeamPlugin* copy = find_copy(*set, job.team_id, job.plugin);
  posthog_error error;
  error.kind[0] = error.message[0] = '\0';
  if (!copy) {
    std::snprintf(error.kind, sizeof error.kind, "%s", "posthog::NotInstalled");
    std::snprintf(error.message, sizeof error.message,
                  "team %lld has no plugin '%s' in its chain any more; replay the job once it has",
                  static_cast<long long>(job.team_id), job.plugin.c_str());
    finish(job, POSTHOG_ERROR, error);
    return;
  }
  // What a crash in the hook is about: the job, quarantined in the next
  // worker, where it fails as if it had thrown (even while the plugin is
  // paused for that crash).
  HookCalls::set_subject("job " + std::to_string(job.id));
  auto const* task = scheduled_task(job.name);
  std::string const hook(task ? task->hook_name : "run_job");
  if (!copy->runnable() && !copy->crashed_on_subject(hook.c_str())) {
    // Paused or disabled for its health: a scheduled run skips this period (the
    // next one is its retry, as ever); a job waits, its attempts untouched.
    if (scheduled_task(job.name)) queue_.done(job.id, job.claim);
    else queue_.retry_later(job.id, job.attempt, now_() + 60'000,
                            "waiting: the plugin is paused or disabled for its health", job.claim);
    count(job, [](JobTally& t) { ++t.postponed; });
    return;
  }
  posthog_status status;
  if (task) {
    // A version swapped in since the period was queued may not have the hook any more.
    status = copy->has_scheduled(task->hook) ? copy->run_scheduled(task->hook, error) : POSTHOG_OK;
  } else {
    Attempt const attempt{static_cast<std::uint32_t>(job.attempt + 1),
                          static_cast<std::uint32_t>(policy_.max_retries + 1)};
    status = copy->run_job(job.name, job.payload, attempt, error);
  }
  finish(job, status, error);
}

void JobRunner::finish(const Job& job, posthog_status status, const posthog_error& error) {
  bool const scheduled = scheduled_task(job.name) != nullptr;
  std::string const message = std::string(error.kind) + ": " + error.message;
  if (status == POSTHOG_OK) {
    queue_.done(job.id, job.claim);
    count(job, [scheduled](JobTally& t) {
      if (scheduled) ++t.scheduled_ok;
      else ++t.runs, ++t.succeeded;
    });
    return;
  }
  if (status == POSTHOG_RETRY_ERROR && !scheduled) {
    int const retry = job.attempt + 1;
    bool const dead = retry > policy_.max_retries;
    std::int64_t const wait = dead ? 0 : backoff_.delay_ms(retry);
    if (dead) queue_.fail(job.id, retry, message, job.claim);
    else queue_.retry_later(job.id, retry, now_() + wait, message, job.claim);
    count(job, [&](JobTally& t) {
      ++t.runs, ++t.retry_errors;
      if (dead) ++t.failed;
      t.last_error = message;
    });
    std::string line = "job '" + job.name + "' (" + std::to_string(job.id) + ") asked for a retry (" +
                       std::to_string(retry) + " of " + std::to_string(policy_.max_retries) + "): " + error.message;
    line += dead ? "; no retries left: the job failed (replay it through the admin API)"
                 : "; next try in " + std::to_string(wait / 1000) + " s";
    log_.log({job.team_id, job.plugin, dead ? POSTHOG_LOG_ERROR : POSTHOG_LOG_WARN, line,
              std::chrono::system_clock::now()});
    return;
  }
  // Any other failure. A scheduled run is simply over: the next period runs it again.
  if (scheduled) queue_.done(job.id, job.claim);
  else queue_.fail(job.id, job.attempt + 1, message, job.claim);
  count(job, [&](JobTally& t) {
    if (scheduled) ++t.scheduled_failed;
    else ++t.runs, ++t.failed;
    t.last_error = message;
  });
  std::string const hook = scheduled ? job.name.substr(1) : "job:" + job.name;
  std::string const what = scheduled ? std::string(error.message)
                                     : std::string(error.message) + " (the job is kept as failed; replay it through "
                                                                    "the admin API; only RetryError is retried)";
  log_.error({job.team_id, job.plugin, hook, error.kind, what, {}, job_text(job), {}});
}

void JobRunner::start() {
  for (unsigned i = 0; i < std::max(1u, policy_.threads); ++i)
    threads_.emplace_back([this] {
      std::unique_lock lock(wake_mutex_);
      while (!stopping_) {
        auto const seen = wakeups_;
        lock.unlock();
        bool ran = false;
        std::int64_t sleep_ms = policy_.idle_poll.count();
        try {
          ran = run_one();
          if (!ran)
            if (auto const next = queue_.next_due_ms())
              sleep_ms = std::clamp<std::int64_t>(*next - now_(), 1, policy_.idle_poll.count());
        } catch (const std::exception& e) {
          log_.log({0, "jobs", POSTHOG_LOG_ERROR, std::string("job pass failed, retried shortly: ") + e.what(),
                    std::chrono::system_clock::now()});
        }
        lock.lock();
        if (!ran)
          wake_.wait_for(lock, std::chrono::milliseconds(sleep_ms), [&] { return stopping_ || wakeups_ != seen; });
      }
    });
}

void JobRunner::stop() {
  {
    std::lock_guard lock(wake_mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  for (auto& t : threads_)
    if (t.joinable()) t.join();
  threads_.clear();
}

}  // namespace posthog::server
