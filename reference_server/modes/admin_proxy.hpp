// AdminProxy: a supervisor's admin port (serve.isolation: process). The admin
// API itself runs in the worker process, next to the chains it reports on and
// changes; the supervisor's port stays up while a worker restarts, forwards
// each request to the worker's private port (127.0.0.1, chosen at start), and
// answers what only the supervisor knows:
//
//   GET /api/isolation   the worker process, its restarts and every crash
//   GET /metrics         the worker's metrics followed by the supervisor's
//                        (capture, the event log, the workers); the
//                        supervisor's alone while no worker is up
//   anything else        503 {"code": "worker_restarting"} with Retry-After
//                        while no worker is up
//
//   AdminProxy proxy(token, [&] { return worker_admin_port(); }, render, isolation);
//   HttpResponse r = proxy.handle(request);
#pragma once

#include <boost/json/object.hpp>

#include <cstdint>
#include <functional>
#include <string>

#include "http/http_exchange.hpp"

namespace posthog::server {

class AdminProxy {
 public:
  // `worker_port`: the running worker's admin port, 0 while there is none.
  // `changed`: called after a request that may have changed something (not a
  // GET) succeeded, before it is answered: capture learns a team's new token
  // before the admin who set it can send an event with it.
  AdminProxy(std::string token, std::function<std::uint16_t()> worker_port,
             std::function<void(std::string&)> render_own_metrics, std::function<boost::json::object()> isolation,
             std::function<void(const HttpRequest&)> changed)
      : token_(std::move(token)),
        worker_port_(std::move(worker_port)),
        render_own_metrics_(std::move(render_own_metrics)),
        isolation_(std::move(isolation)),
        changed_(std::move(changed)) {}

  HttpResponse handle(const HttpRequest& request) const;

 private:
  // The worker's answer, or nothing when it could not be reached.
  bool forward(const HttpRequest& request, std::uint16_t port, HttpResponse& answer) const;

  std::string token_;
  std::function<std::uint16_t()> worker_port_;
  std::function<void(std::string&)> render_own_metrics_;
  std::function<boost::json::object()> isolation_;
  std::function<void(const HttpRequest&)> changed_;
};

}  // namespace posthog::server
