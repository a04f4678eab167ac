// The only server file that includes cpp-httplib (a heavy header).
#include "posthog_forward_sink.hpp"

#include <httplib.h>

#include <algorithm>
#include <boost/json/serialize.hpp>
#include <stdexcept>

#include "common/json_lines.hpp"

namespace posthog::server {
namespace {

std::string json_quoted(std::string_view s) { return boost::json::serialize(boost::json::value(boost::json::string_view(s.data(), s.size()))); }

std::chrono::milliseconds retry_after_of(const httplib::Result& r, std::chrono::milliseconds fallback) {
  if (!r || !r->has_header("Retry-After")) return fallback;
  try {
    auto const s = std::stoi(r->get_header_value("Retry-After"));
    if (s >= 0 && s <= 3600) return std::chrono::seconds(s);
  } catch (const std::exception&) {  // an HTTP date or junk: use our own backoff
  }
  return fallback;
}

}  // namespace

struct PosthogForwardSink::Connection {
  httplib::Client client;
  explicit Connection(const std::string& origin) : client(origin) {}
};

PosthogForwardSink::PosthogForwardSink(ForwardOptions options, DurableStore& store, TokenOf token_of, Report report)
    : options_(std::move(options)), store_(store), token_of_(std::move(token_of)), report_(std::move(report)) {
  // origin: scheme://host[:port]; path: whatever follows, then /batch/.
  auto const scheme_end = options_.url.find("://");
  if (scheme_end == std::string::npos) throw std::invalid_argument("sink url '" + options_.url + "' has no scheme");
  auto const path_start = options_.url.find('/', scheme_end + 3);
  origin_ = options_.url.substr(0, path_start);
  std::string prefix = path_start == std::string::npos ? "" : options_.url.substr(path_start);
  while (!prefix.empty() && prefix.back() == '/') prefix.pop_back();
  path_ = prefix + "/batch/";
  connection_ = std::make_unique<Connection>(origin_);
  if (!connection_->client.is_valid()) throw std::invalid_argument("sink url '" + options_.url + "' cannot be used");
  auto& c = connection_->client;
  c.set_keep_alive(true);
  c.set_compress(true);  // gzip request bodies: PostHog's capture takes them
  c.set_connection_timeout(options_.timeout);
  c.set_read_timeout(options_.timeout);
  c.set_write_timeout(options_.timeout);
  backlog_events_ = store_.backlog_size().events;
  sender_ = std::thread([this] { sender_loop(); });
}

PosthogForwardSink::~PosthogForwardSink() { stop_sender(); }

void PosthogForwardSink::stop_sender() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  if (sender_.joinable()) sender_.join();
}

void PosthogForwardSink::write(const SinkBatch& batch) {
  if (batch.lines.empty()) return;
  std::uint64_t events = 0;
  for (auto const& run : batch.teams) events += run.events;
  // Room is reserved before the rows exist, so the sender can never count them
  // down first, and two workers cannot both squeeze past the limit. An empty
  // backlog takes any batch: a limit below one batch must not stop everything.
  std::uint64_t waiting = backlog_events_.load();
  do {
    if (waiting > 0 && waiting + events > options_.max_backlog_events)
      throw std::runtime_error("the forward backlog is full (" + std::to_string(waiting) + " events waiting for " +
                               options_.url + ")");
  } while (!backlog_events_.compare_exchange_weak(waiting, waiting + events));

  // Rows of one token and at most batch_events events each: a row is what one
  // /batch/ request carries at most.
  std::vector<BacklogBatch> rows;
  std::size_t start = 0;
  for (auto const& run : batch.teams) {
    std::string token = options_.api_key.empty() ? token_of_(run.team_id) : options_.api_key;
    std::string_view lines = batch.lines.substr(start, run.end - start);
    while (!lines.empty()) {
      if (rows.empty() || rows.back().token != token || rows.back().events >= options_.batch_events)
        rows.push_back({0, token, {}, 0});
      auto const nl = lines.find('\n');
      auto const line = lines.substr(0, nl == std::string_view::npos ? lines.size() : nl + 1);
      rows.back().lines.append(line);
      ++rows.back().events;
      lines.remove_prefix(line.size());
    }
    start = run.end;
  }
  try {
    store_.backlog_push(rows);
  } catch (const StoreError& e) {
    backlog_events_ -= events;
    throw std::runtime_error(std::string("the forward backlog cannot be written: ") + e.what());
  }
  {
    std::lock_guard lock(mutex_);
    have_work_ = true;
  }
  wake_.notify_one();
}

PosthogForwardSink::Sent PosthogForwardSink::send_some(std::chrono::milliseconds& retry_after) {
  auto rows = store_.backlog_oldest(64);
  if (rows.empty()) return Sent::nothing_to_send;

  std::string const token = rows.front().token;
  if (token.empty()) {
    store_.backlog_park(rows.front(), 0, "no project token for these events' team (was it removed?)");
    backlog_events_ -= rows.front().events;
    std::lock_guard lock(mutex_);
    ++status_.parked_batches;
    return Sent::delivered_or_parked;
  }
  std::string body = "{\"api_key\":" + json_quoted(token) + ",\"batch\":[";
  std::vector<std::int64_t> ids;
  std::size_t events = 0;
  bool first = true;
  for (auto const& row : rows) {
    if (row.token != token || (events && events + row.events > options_.batch_events)) break;
    std::string_view lines = row.lines;
    while (!lines.empty()) {
      auto const nl = lines.find('\n');
      auto const line = lines.substr(0, nl);
      if (!line.empty()) {
        if (!first) body.push_back(',');
        body.append(line);  // the worker wrote properties.$ip already (wants_ip_in_properties)
        first = false;
      }
      lines.remove_prefix(nl == std::string_view::npos ? lines.size() : nl + 1);
    }
    ids.push_back(row.id);
    events += row.events;
  }
  body += "]}";

  auto result = connection_->client.Post(path_, body, "application/json");
  int const status = result ? result->status : 0;
  auto fail = [&](std::string why) {
    std::lock_guard lock(mutex_);
    status_.reachable = false;
    status_.last_error = why;
    ++status_.failed_attempts;
    return Sent::failed;
  };
  if (!result) {
    retry_after = std::chrono::milliseconds(0);
    return fail("cannot reach " + options_.url + ": " + httplib::to_string(result.error()));
  }
  if (status >= 200 && status < 300) {
    store_.backlog_remove(ids);
    backlog_events_ -= events;
    std::lock_guard lock(mutex_);
    status_.reachable = true;
    status_.last_error.clear();
    status_.delivered_events += events;
    ++status_.delivered_batches;
    return Sent::delivered_or_parked;
  }
  if (status == 408 || status == 425 || status == 429 || status >= 500) {
    retry_after = retry_after_of(result, std::chrono::milliseconds(0));
    return fail(options_.url + path_ + " answered " + std::to_string(status) + ": " + result->body.substr(0, 300));
  }
  // Refused for good: set aside, the rest goes on.
  for (auto const& row : rows) {
    if (std::find(ids.begin(), ids.end(), row.id) == ids.end()) break;
    store_.backlog_park(row, status, result->body);
    backlog_events_ -= row.events;
  }
  report_("{\"type\":\"sink_error\",\"sink\":\"posthog\",\"status\":" + std::to_string(status) +
          ",\"events\":" + std::to_string(events) + ",\"message\":" +
          json_quoted("the target refused the batch; it is parked in the store: " + result->body.substr(0, 300)) + "}\n");
  std::lock_guard lock(mutex_);
  status_.parked_batches += ids.size();
  return Sent::delivered_or_parked;
}

void PosthogForwardSink::sender_loop() {
  auto backoff = options_.first_backoff;
  std::unique_lock lock(mutex_);
  for (;;) {
    wake_.wait(lock, [&] { return stopping_ || have_work_; });
    if (stopping_) return;
    have_work_ = false;
    lock.unlock();
    Sent sent = Sent::delivered_or_parked;
    std::chrono::milliseconds retry_after{0};
    try {
      while ((sent = send_some(retry_after)) == Sent::delivered_or_parked) {
        backoff = options_.first_backoff;
        std::lock_guard stop_check(mutex_);
        if (stopping_) return;
      }
    } catch (const std::exception& e) {  // the store, or the HTTP client: retried like a failed delivery
      report_("{\"type\":\"sink_error\",\"sink\":\"posthog\",\"message\":" + json_quoted(e.what()) + "}\n");
      sent = Sent::failed;
    }
    lock.lock();
    if (sent == Sent::failed) {
      have_work_ = true;
      wake_.wait_for(lock, std::max(backoff, retry_after), [&] { return stopping_; });
      backoff = std::min(backoff * 2, options_.max_backoff);
    }
  }
}

void PosthogForwardSink::drain(std::chrono::milliseconds drain_for) {
  stop_sender();
  auto const deadline = std::chrono::steady_clock::now() + drain_for;
  auto backoff = options_.first_backoff;
  while (std::chrono::steady_clock::now() < deadline) {
    std::chrono::milliseconds retry_after{0};
    Sent sent;
    try {
      sent = send_some(retry_after);
    } catch (const std::exception& e) {
      report_("{\"type\":\"sink_error\",\"sink\":\"posthog\",\"message\":" + json_quoted(e.what()) + "}\n");
      return;
    }
    if (sent == Sent::nothing_to_send) return;
    if (sent == Sent::failed) {
      auto const left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
      std::this_thread::sleep_for(std::min({std::max(backoff, retry_after), left, std::chrono::milliseconds(1000)}));
      backoff = std::min(backoff * 2, options_.max_backoff);
    }
  }
  auto const left = store_.backlog_size();
  if (left.events)
    report_("{\"type\":\"sink_backlog_kept\",\"events\":" + std::to_string(left.events) +
            ",\"message\":\"not delivered before shutdown; kept in the store, sent after the next start\"}\n");
}

std::uint64_t PosthogForwardSink::retry_parked() {
  auto const events = store_.unpark_all();
  backlog_events_ += events;
  {
    std::lock_guard lock(mutex_);
    have_work_ = true;
  }
  wake_.notify_one();
  return events;
}

ForwardStatus PosthogForwardSink::status() {
  auto const backlog = store_.backlog_size();
  std::lock_guard lock(mutex_);
  ForwardStatus s = status_;
  s.backlog = backlog;
  return s;
}

}  // namespace posthog::server
