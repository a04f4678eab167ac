#include "remote_log.hpp"

namespace posthog::server {

bool RemoteLog::on_frame(ChannelFrame& frame) {
  if (frame.kind == ChannelKind::batch) {
    auto batch = decode_batch(frame.body);
    Deliver deliver;
    {
      // A batch that comes before the pipeline started waits for it.
      std::unique_lock lock(mutex_);
      started_.wait(lock, [&] { return deliver_ != nullptr || closed_; });
      if (!deliver_) return true;
      deliver = deliver_;
    }
    deliver(std::move(batch));  // may block while the pipeline is full: the supervisor holds the rest
    return true;
  }
  if (frame.kind == ChannelKind::appended) {
    ChannelReader in(frame.body);
    auto const id = in.u64();
    std::string const failure(in.text());
    Durable done;
    {
      std::lock_guard lock(mutex_);
      auto it = waiting_.find(id);
      if (it == waiting_.end()) return true;
      done = std::move(it->second);
      waiting_.erase(it);
    }
    done(failure);
    return true;
  }
  return false;
}

void RemoteLog::channel_closed() {
  std::map<std::uint64_t, Durable> waiting;
  {
    std::lock_guard lock(mutex_);
    closed_ = true;
    waiting.swap(waiting_);
  }
  started_.notify_all();
  for (auto& [id, done] : waiting) done("the supervisor is gone: nothing was acknowledged");
}

void RemoteLog::append(std::span<LogAppend> records, Durable durable) {
  ChannelBody body;
  std::uint64_t id;
  {
    std::lock_guard lock(mutex_);
    if (closed_) throw LogUnavailable("the supervisor is gone");
    id = next_request_++;
    waiting_.emplace(id, std::move(durable));
    appended_records_ += records.size();
    for (auto const& r : records) appended_events_ += r.events;
  }
  body.u64(id).u32(static_cast<std::uint32_t>(records.size()));
  for (auto const& r : records) body.u64(r.partition).u32(r.events).text(r.payload);
  try {
    channel_.send(ChannelKind::append, body.take());
  } catch (const std::exception& e) {
    std::lock_guard lock(mutex_);
    waiting_.erase(id);
    throw LogUnavailable(std::string("the supervisor cannot be reached: ") + e.what());
  }
}

LogStatus RemoteLog::status() const {
  LogStatus s;
  s.backend = "supervisor";
  std::lock_guard lock(mutex_);
  s.writable = !closed_;
  s.appended_records = appended_records_;
  s.appended_events = appended_events_;
  return s;
}

void RemoteLog::start(Deliver deliver, std::function<bool()>) {
  {
    std::lock_guard lock(mutex_);
    deliver_ = std::move(deliver);
  }
  started_.notify_all();
}

void RemoteLog::about_to_sink(const LogBatch& batch) {
  channel_.send(ChannelKind::sinking, ChannelBody().u64(batch.partition).u64(batch.end).take());
}

void RemoteLog::commit(LogBatch& batch) {
  channel_.send(ChannelKind::committed, ChannelBody().u64(batch.partition).u64(batch.end).take());
}

}  // namespace posthog::server
