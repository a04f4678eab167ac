#include "export_runner.hpp"

#include <algorithm>
#include <boost/json/parse.hpp>

#include "health/hook_calls.hpp"
#include "common/json_lines.hpp"
#include "stores/durable_store.hpp"

namespace posthog::server {

namespace {

// The batch as the error log shows it: a JSON array, cut short past 64 KiB.
std::string batch_text(const ExportBatch& batch) {
  std::string out = "[";
  for (auto const& e : batch.events) {
    if (out.size() > 1) out += ',';
    if (out.size() + e.size() > 64 * 1024) {
      out += "\"... " + std::to_string(batch.events.size()) + " events in all\"";
      break;
    }
    out += e;
  }
  return out + "]";
}

}  // namespace


ExportRunner::ExportRunner(ExportQueue& queue, const LiveChains& chains, PluginLog& log, ExportPolicy policy,
                           Clock now)
    : queue_(queue),
      chains_(chains),
      log_(log),
      policy_(policy),
      now_(std::move(now)),
      backoff_(policy_.retry_base, policy_.jitter) {
  try {
    for (auto const& p : queue_.pending()) buffered_[{p.team_id, p.plugin}] = {p.bytes, p.oldest_ms};
    last_read_ms_ = now_();
  } catch (const std::exception& e) {  // a shared queue down at start: the first pass reads it
    log_.log({0, "exports", POSTHOG_LOG_WARN, std::string("export queue not read at start: ") + e.what(),
              std::chrono::system_clock::now()});
  }
}

ExportRunner::~ExportRunner() { stop(); }

void ExportRunner::enqueue(const std::vector<ExportRow>& rows) {
  if (rows.empty()) return;
  auto const now = now_();
  queue_.append(rows, now);
  std::lock_guard lock(tally_mutex_);
  for (auto const& r : rows) {
    ++tally(r.team_id, r.plugin).events_seen;
    auto& b = buffered_[{r.team_id, r.plugin}];
    if (b.bytes == 0) b.oldest_ms = now;
    b.bytes += r.event_json.size();
  }
}

ExportTally& ExportRunner::tally(std::int64_t team_id, const std::string& plugin) {
  return tallies_[{team_id, plugin}];
}

std::map<std::pair<std::int64_t, std::string>, ExportTally> ExportRunner::tallies() const {
  std::lock_guard lock(tally_mutex_);
  return tallies_;
}

std::int64_t ExportRunner::retry_delay_ms(int n) { return backoff_.delay_ms(n); }

std::size_t ExportRunner::step() {
  std::lock_guard pass(step_mutex_);
  auto const now = now_();
  std::vector<std::pair<std::int64_t, std::string>> ready;
  if (now - last_read_ms_ >= policy_.buffer_age.count()) {
    auto const pending = queue_.pending();
    last_read_ms_ = now;
    std::lock_guard lock(tally_mutex_);
    for (auto const& p : pending) {
      auto& b = buffered_[{p.team_id, p.plugin}];
      if (b.bytes == 0 || p.oldest_ms < b.oldest_ms) b.oldest_ms = p.oldest_ms;
      b.bytes = std::max(b.bytes, p.bytes);
    }
  }
  auto const set = chains_.current();
  {
    // Forgotten before cutting: rows queued from here on are counted afresh.
    std::lock_guard lock(tally_mutex_);
    for (auto it = buffered_.begin(); it != buffered_.end();) {
      auto const bounds = bounds_of(*set, it->first.first, it->first.second);
      bool const full = it->second.bytes >= bounds.bytes;
      bool const old = now - it->second.oldest_ms >= bounds.age.count();
      if (full || old) {
        ready.push_back(it->first);
        it = buffered_.erase(it);
      } else {
        ++it;
      }
    }
  }
  for (auto const& [team_id, plugin] : ready) {
    auto const bytes = bounds_of(*set, team_id, plugin).bytes;
    while (queue_.cut_batch(team_id, plugin, bytes, policy_.max_batch_events, now)) {
    }
  }
  // A few batches at a time: each may hold buffer_bytes of events in memory.
  constexpr std::size_t page = 4;
  std::size_t handed = 0;
  for (;;) {
    auto const batches = queue_.due(now_(), page);  // now, not the pass's start: a shared queue hides them from then on
    for (auto const& batch : batches) {
      hand_over(batch, now);
      ++handed;
    }
    if (batches.size() < page) break;
  }
  return handed;
}

ExportRunner::Bounds ExportRunner::bounds_of(const ChainSet& set, std::int64_t team_id, const std::string& plugin) const {
  Bounds b{policy_.buffer_bytes, policy_.buffer_age};
  if (auto const* copy = exporter(set, team_id, plugin))
    if (auto const* s = copy->export_settings()) {
      b.bytes = s->buffer_bytes.value_or(b.bytes);
      b.age = s->buffer_age.value_or(b.age);
    }
  return b;
}

const TeamPlugin* ExportRunner::exporter(const ChainSet& set, std::int64_t team_id, const std::string& plugin) {
  if (auto const* chain = set.chain(team_id))
    for (auto const* p : chain->exporters())
      if (p->name() == plugin) return p;
  return nullptr;
}

void ExportRunner::hand_over(const ExportBatch& batch, std::int64_t now) {
  auto const n = batch.events.size();
  auto const set = chains_.current();  // pinned for the call: a swap cannot tear the copy down under it
  const TeamPlugin* copy = exporter(*set, batch.team_id, batch.plugin);
  if (copy && !copy->runnable()) {
    // Paused or disabled for its health: the batch waits, its attempts untouched.
    queue_.retry_later(batch.id, batch.attempt, now + policy_.buffer_age.count(),
                       "waiting: the plugin is paused or disabled for its health", batch.claim);
    std::lock_guard lock(tally_mutex_);
    ++tally(batch.team_id, batch.plugin).postponed;
    return;
  }
  if (!copy) {
    std::string const why = "team " + std::to_string(batch.team_id) + " has no '" + batch.plugin +
                            "' exporting in its chain any more; replay the batch once it has";
    queue_.dead_letter(batch.id, batch.attempt, why, batch.claim);
    std::lock_guard lock(tally_mutex_);
    auto& t = tally(batch.team_id, batch.plugin);
    t.events_undelivered += n;
    t.last_error = why;
    return;
  }

  std::vector<boost::json::object> events;
  events.reserve(n);
  for (auto const& text : batch.events) {
    boost::system::error_code ec;
    auto v = boost::json::parse(text, ec, {}, event_parse_options());
    if (!ec && v.is_object()) {
      events.push_back(std::move(v.as_object()));
      continue;
    }
    // The store gave back what was not written into it: say so, do not drop it quietly.
    log_.error({batch.team_id, batch.plugin, "export_events", "StoreError",
                "an event of export batch " + std::to_string(batch.id) +
                    " is not a JSON object in the store and was left out: " + (ec ? ec.message() : "not an object"),
                {}, text.substr(0, 64 * 1024), {}});
    std::lock_guard lock(tally_mutex_);
    ++tally(batch.team_id, batch.plugin).events_undelivered;
  }
  auto const handed = events.size();  // without any the store could not give back
  std::vector<const boost::json::object*> pointers;
  pointers.reserve(events.size());
  for (auto const& e : events) pointers.push_back(&e);

  posthog_error error;
  error.kind[0] = error.message[0] = '\0';
  Attempt const attempt{static_cast<std::uint32_t>(batch.attempt + 1), static_cast<std::uint32_t>(policy_.max_retries + 1)};
  HookCalls::set_subject("export " + std::to_string(batch.id));  // what a crash was about
  auto const status = copy->export_events(pointers, attempt, error);
  if (status == POSTHOG_OK) {
    queue_.delivered(batch.id, batch.claim);
    std::lock_guard lock(tally_mutex_);
    tally(batch.team_id, batch.plugin).events_delivered += handed;
    return;
  }

  std::string const message = std::string(error.kind) + ": " + error.message;
  if (status == POSTHOG_RETRY_ERROR) {
    int const retry = batch.attempt + 1;
    bool const dead = retry > policy_.max_retries;
    std::int64_t const wait = dead ? 0 : retry_delay_ms(retry);
    if (dead) queue_.dead_letter(batch.id, retry, message, batch.claim);
    else queue_.retry_later(batch.id, retry, now + wait, message, batch.claim);
    {
      std::lock_guard lock(tally_mutex_);
      auto& t = tally(batch.team_id, batch.plugin);
      ++t.retry_errors;
      if (dead) t.events_undelivered += handed;
      t.last_error = message;
    }
    std::string line = "export_events of " + std::to_string(handed) + " events (batch " + std::to_string(batch.id) +
                       ") asked for a retry (" + std::to_string(retry) + " of " +
                       std::to_string(policy_.max_retries) + "): " + error.message;
    line += dead ? "; no retries left: the batch is a dead letter (replay it through the admin API)"
                 : "; next try in " + std::to_string(wait / 1000) + " s";
    log_.log({batch.team_id, batch.plugin, dead ? POSTHOG_LOG_ERROR : POSTHOG_LOG_WARN, line,
              std::chrono::system_clock::now()});
    return;
  }

  // Any other failure: not retried, as in PostHog; the error keeps the batch.
  queue_.delivered(batch.id);
  {
    std::lock_guard lock(tally_mutex_);
    auto& t = tally(batch.team_id, batch.plugin);
    ++t.other_errors;
    t.events_undelivered += handed;
    t.last_error = message;
  }
  log_.error({batch.team_id, batch.plugin, "export_events", error.kind,
              std::string(error.message) + " (" + std::to_string(handed) + " events not exported; only RetryError is retried)",
              {}, batch_text(batch), {}});
}

void ExportRunner::start(std::chrono::milliseconds interval) {
  task_.start(
      [this, interval] {
        step();
        return interval;
      },
      [this](const std::exception& e) {
        log_.log({0, "exports", POSTHOG_LOG_ERROR, std::string("export pass failed, retried next pass: ") + e.what(),
                  std::chrono::system_clock::now()});
      },
      interval);
}

void ExportRunner::stop() { task_.stop(); }

}  // namespace posthog::server
