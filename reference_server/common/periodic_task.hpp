// PeriodicTask: a thread that runs a pass of some background work, waits as
// long as the pass asks, and runs it again until stopped: the loop behind the
// export runner, the scheduler, the set-up retries and the hard-timeout
// watchdog. A pass that throws is handed to `failed` and the loop goes on
// after `retry_after`; wake() cuts the wait short; stop() ends the wait and
// joins (it is also what the destructor does).
//
//   PeriodicTask task;
//   task.start([&] { step(); return std::chrono::milliseconds(100); },
//              [&](const std::exception& e) { log(e); });
#pragma once

#include <chrono>
#include <condition_variable>
#include <exception>
#include <functional>
#include <mutex>
#include <thread>

namespace posthog::server {

class PeriodicTask {
 public:
  using Pass = std::function<std::chrono::milliseconds()>;  // the wait before the next pass
  using Failed = std::function<void(const std::exception&)>;

  PeriodicTask() = default;
  ~PeriodicTask() { stop(); }
  PeriodicTask(const PeriodicTask&) = delete;
  PeriodicTask& operator=(const PeriodicTask&) = delete;

  void start(Pass pass, Failed failed, std::chrono::milliseconds retry_after = std::chrono::seconds(1)) {
    thread_ = std::thread([this, pass = std::move(pass), failed = std::move(failed), retry_after] {
      std::unique_lock lock(mutex_);
      while (!stopping_) {
        lock.unlock();
        auto wait = retry_after;
        try {
          wait = pass();
        } catch (const std::exception& e) {
          failed(e);
        }
        lock.lock();
        wake_.wait_for(lock, wait, [this] { return stopping_ || woken_; });
        woken_ = false;
      }
    });
  }
  void wake() {
    {
      std::lock_guard lock(mutex_);
      woken_ = true;
    }
    wake_.notify_all();
  }
  void stop() {
    {
      std::lock_guard lock(mutex_);
      stopping_ = true;
    }
    wake_.notify_all();
    if (thread_.joinable()) thread_.join();
  }

 private:
  std::mutex mutex_;
  std::condition_variable wake_;
  bool stopping_ = false, woken_ = false;
  std::thread thread_;
};

}  // namespace posthog::server
