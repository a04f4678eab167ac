// Serialising events as JSON lines, numbers written as PostHog's JavaScript wrote them.
//
// Boost.JSON 1.81 prints doubles in scientific form (58.4167 becomes 5.84167E1):
// valid JSON, but not what a PostHog user expects to read in $geoip_latitude or a
// price. This writer prints the shortest text that reads back to the same double
// (std::to_chars), so 58.4167 stays 58.4167 and 3.0 becomes 3, as JSON.stringify
// does; everything else is standard JSON with UTF-8 passed through. It appends
// into the caller's buffer, so a batch of events costs no temporary string each.
#pragma once

#include <boost/json/object.hpp>
#include <boost/json/parse_options.hpp>
#include <boost/json/value.hpp>
#include <cstddef>
#include <memory>
#include <string>
#include <string_view>

namespace posthog::server {

// How deep an event's JSON may nest. Capture takes serve.max_json_depth (128
// by default; PostHog's own capture reads 128), and events are read back from
// text the server wrote (the event stream, the store's queues, a sink's
// backlog) as deep as any configuration may have let in: Boost's default of 32
// would refuse events capture took.
constexpr unsigned default_max_json_depth = 128;
constexpr unsigned max_event_depth = 1024;
inline boost::json::parse_options event_parse_options(unsigned max_depth = max_event_depth) noexcept {
  boost::json::parse_options options;
  options.max_depth = max_depth;
  return options;
}

// A growable byte buffer that, unlike std::string in C++20, grows without
// zero-filling: the writer reserves room, writes through a pointer, commits.
class JsonBuffer {
 public:
  std::string_view view() const noexcept { return {data_.get(), size_}; }
  bool empty() const noexcept { return size_ == 0; }
  void clear() noexcept { size_ = 0; }

  // Room for n more bytes at the returned pointer; commit() what was written.
  char* reserve(std::size_t n) {
    if (size_ + n > capacity_) grow(size_ + n);
    return data_.get() + size_;
  }
  void commit(std::size_t n) noexcept { size_ += n; }

 private:
  void grow(std::size_t needed);

  std::unique_ptr<char[]> data_;
  std::size_t size_ = 0, capacity_ = 0;
};

// Appends the object's JSON text and a newline to `out`.
void append_json_line(JsonBuffer& out, const boost::json::object& object);

// Members written at the end of an event's "properties" as the event is
// written, in place of any members of the same names: how the chain's
// bookkeeping reaches the output without being built as JSON values first.
struct PropertiesTail {
  const std::string_view* replaced = nullptr;  // member names left out of the event's own
  std::size_t replaced_count = 0;
  void (*write)(const void* context, JsonBuffer& out) = nullptr;  // appends "k":v[,"k2":v2...]
  const void* context = nullptr;
};
// The event, with `tail` in its properties (which it gains if it has none).
void append_json_line(JsonBuffer& out, const boost::json::object& event, const PropertiesTail& tail);
// A JSON string: `s` quoted and escaped.
void append_json_string(JsonBuffer& out, std::string_view s);

// Appends the value's JSON text to `out`.
void append_json(std::string& out, const boost::json::value& value);
// Appends the object's JSON text and a newline to `out`.
void append_json_line(std::string& out, const boost::json::object& object);

}  // namespace posthog::server
