// json_floor: the floor any JSON event pipeline pays, as a whole process: reads
// JSON lines on stdin, parses each with Boost.JSON and serialises it back to
// stdout, on one thread. Timing it next to `posthog-plugin-server process` on
// the same input (any whole-process timer, e.g. /usr/bin/time) gives the
// chain / floor ratio the in-process benchmarks print.
//
//   build/bin/json_floor < events.jsonl > /dev/null
#include <boost/json.hpp>
#include <cstdio>
#include <iostream>
#include <string>

int main() {
  std::ios::sync_with_stdio(false);
  boost::json::parser parser;
  std::string line, out;
  std::size_t lines = 0, bad = 0;
  while (std::getline(std::cin, line)) {
    parser.reset();
    boost::system::error_code ec;
    parser.write(line, ec);
    if (ec) {
      ++bad;
      continue;
    }
    out += boost::json::serialize(parser.release());
    out += '\n';
    if (out.size() > (1 << 20)) std::fwrite(out.data(), 1, out.size(), stdout), out.clear();
    ++lines;
  }
  std::fwrite(out.data(), 1, out.size(), stdout);
  std::fprintf(stderr, "{\"lines\":%zu,\"malformed\":%zu}\n", lines, bad);
  return 0;
}
