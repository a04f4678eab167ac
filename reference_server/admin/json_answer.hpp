// A JSON body with a status: how every admin handler answers.
#pragma once

#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>

#include "http/http_exchange.hpp"

namespace posthog::server {

inline HttpResponse json_answer(int status, const boost::json::value& body) {
  HttpResponse r;
  r.status = status;
  r.body = boost::json::serialize(body);
  return r;
}

}  // namespace posthog::server
