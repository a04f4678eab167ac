#include "supervised_worker.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <unistd.h>

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include <atomic>
#include <chrono>
#include <thread>

#include "health/worker_crash.hpp"
#include "log/remote_log.hpp"
#include "diagnostics.hpp"
#include "process_memory.hpp"
#include "serve_topology.hpp"
#include "worker_process.hpp"

namespace posthog::server {
namespace {

// The first frame: every crash so far, and whether to start quiesced.
struct StartOrder {
  std::vector<WorkerCrash> crashes;
  std::size_t fresh = 0;
  bool quiesced = false;
};

StartOrder read_start(LogChannel& channel) {
  auto frame = channel.receive();
  if (!frame || frame->kind != ChannelKind::control)
    throw std::runtime_error("the supervisor did not send the start order first");
  auto const order = boost::json::parse(frame->body).as_object();
  StartOrder start;
  for (auto const& c : order.at("crashes").as_array()) start.crashes.push_back(WorkerCrash::from_json(c.as_object()));
  start.fresh = static_cast<std::size_t>(order.at("fresh").to_number<std::uint64_t>());
  start.quiesced = order.at("quiesced").as_bool();
  return start;
}

}  // namespace

int run_supervised_worker(ServerConfig config, ServeSettings settings, int channel_fd, int hook_calls_fd) {
  FdWriter err(2);
  // Dies with the supervisor; a supervisor that died before this line is seen by the parent id.
  pid_t const parent = ::getppid();
  ::prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (::getppid() != parent) return 1;
  for (int s : {SIGTERM, SIGINT, SIGHUP}) ::signal(s, SIG_IGN);
  ::fcntl(channel_fd, F_SETFD, FD_CLOEXEC);  // not inherited by whatever a plugin starts
  WorkerProcess::adopt_hook_calls(hook_calls_fd);
  // No core files: a plugin that crashes on every event would fill the disk
  // with them; the crash is recorded with its hook and event instead.
  rlimit no_core{};
  ::setrlimit(RLIMIT_CORE, &no_core);
  if (settings.isolation_memory_limit_mb) {
    rlimit limit{};
    limit.rlim_cur = limit.rlim_max = settings.isolation_memory_limit_mb << 20;
    if (::setrlimit(RLIMIT_AS, &limit) != 0)
      err.write(diagnostic_line({{"type", "worker_error"}, {"message", "the memory limit could not be set"}}));
  }

  LogChannel channel(channel_fd);
  StartOrder start;
  try {
    start = read_start(channel);
  } catch (const std::exception& e) {
    err.write(diagnostic_line({{"type", "worker_error"}, {"message", e.what()}}));
    return 1;
  }
  RemoteLog log(channel, settings.log_partitions);
  SupervisedRun run;
  run.log = &log;
  run.crashes = std::move(start.crashes);
  run.fresh_crashes = start.fresh;
  run.report = [&channel](boost::json::object report) {
    try {
      channel.send(ChannelKind::report, boost::json::serialize(report));
    } catch (const std::exception&) {
      // The supervisor is gone, and this process with it (PR_SET_PDEATHSIG).
    }
  };
  // The admin API answers the supervisor's proxy only.
  settings.admin_host = "127.0.0.1";
  settings.admin_port = 0;
  ServeOptions options;
  options.supervised = &run;
  std::unique_ptr<ServeTopology> topology;
  try {
    topology = std::make_unique<ServeTopology>(config, settings, options);
  } catch (const std::exception& e) {
    err.write(diagnostic_line({{"type", "start_error"}, {"message", e.what()}}));
    return 1;
  }
  config = ServerConfig{};  // built from: held by the chains now
  return_free_memory();
  if (start.quiesced) topology->quiesce();

  // The chains change (a team added, a token changed): capture must know.
  std::atomic<bool> done{false};
  std::thread tokens([&] {
    auto last = topology->tokens();
    while (!done.load()) {
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
      if (done.load()) break;
      auto now = topology->tokens();
      if (now == last) continue;
      last = now;
      run.report({{"type", "tokens"}, {"tokens", std::move(now)}});
    }
  });

  int exit_code = 0;
  for (;;) {
    std::optional<ChannelFrame> frame;
    try {
      frame = channel.receive();
    } catch (const std::exception& e) {
      err.write(diagnostic_line({{"type", "worker_error"}, {"message", e.what()}}));
    }
    if (!frame) {
      // The supervisor is gone: nothing this worker does now can be acknowledged.
      ::_exit(1);
    }
    try {
      if (log.on_frame(*frame)) continue;
      if (frame->kind == ChannelKind::sync_sink) {
        auto const id = ChannelReader(frame->body).u64();
        std::string failure;
        try {
          topology->sync_sink();
        } catch (const std::exception& e) {
          failure = e.what();
        }
        channel.send(ChannelKind::sink_synced, ChannelBody().u64(id).text(failure).take());
        continue;
      }
      if (frame->kind != ChannelKind::control) continue;
      auto const order = boost::json::parse(frame->body).as_object();
      auto const type = order.at("type").as_string();
      if (type == "readiness") {
        run.report({{"type", "readiness_now"}, {"readiness", topology->readiness()}});
      } else if (type == "tokens") {
        run.report({{"type", "tokens_now"}, {"tokens", topology->tokens()}});
      } else if (type == "reload") {
        topology->reload_changed();
      } else if (type == "quiesce") {
        topology->quiesce();
        run.report({{"type", "quiesced"}});
      } else if (type == "stop") {
        done = true;
        tokens.join();
        exit_code = topology->finish();  // reports the summary
        break;
      }
    } catch (const std::exception& e) {
      err.write(diagnostic_line({{"type", "worker_error"}, {"message", e.what()}}));
    }
  }
  log.channel_closed();
  topology.reset();
  return exit_code;
}

}  // namespace posthog::server
