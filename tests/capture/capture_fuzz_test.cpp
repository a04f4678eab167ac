// A seeded mutation loop over everything a capture body goes through before
// the pipeline: the body decoder (form, base64, gzip, lz64), the checking scan
// and the payload reader. Run under ASan+UBSan in CI, where a read past a
// buffer or an overflow stops it. Deterministic: the same seed gives the same
// inputs; POSTHOG_FUZZ_ITERATIONS and POSTHOG_FUZZ_SEED run it longer or
// elsewhere.
//
// Two oracles besides the sanitizers:
//   - a body is either taken (events that are whole: name, distinct_id, uuid,
//     team) or refused with a CaptureError of a client status, nothing else;
//   - the scan accepts exactly the JSON that Boost.JSON, which parses next,
//     accepts (a scan that let through what the parse refuses, or refused
//     what it takes, would answer wrongly).
#include <catch2/catch.hpp>

#include <boost/json.hpp>

#include <cstdint>
#include <cstdlib>
#include <string>
#include <vector>

#include "capture/body_decoder.hpp"
#include "capture/capture_payload.hpp"
#include "capture/event_normalisation.hpp"
#include "log/log_record.hpp"
#include "capture/payload_scan.hpp"
#include "capture_test_support.hpp"

namespace capture_fuzz_test {

using posthog::server::CaptureBody;
using posthog::server::CaptureContext;
using posthog::server::CaptureError;

namespace {

struct Rng {  // xorshift64*: small, fast, the same everywhere
  std::uint64_t state;
  std::uint64_t next() {
    state ^= state >> 12;
    state ^= state << 25;
    state ^= state >> 27;
    return state * 0x2545F4914F6CDD1Dull;
  }
  std::size_t below(std::size_t n) { return n ? static_cast<std::size_t>(next() % n) : 0; }
};

std::uint64_t env_number(const char* name, std::uint64_t fallback) {
  char const* v = std::getenv(name);
  return v && *v ? std::strtoull(v, nullptr, 10) : fallback;
}

// What a mutation inserts: JSON's punctuation, the numbers and escapes at the
// edges, bytes that are not UTF-8, and pieces of the shapes capture knows.
const std::vector<std::string> tokens = {
    "{", "}", "[", "]", "\"", ":", ",", "\\", "\\u", "\\ud800", "\\udc00", "1e400", "-1e309", "1e-400",
    "18446744073709551616", "-9223372036854775809", "0.5", "-0", "true", "null", "\"batch\":", "\"api_key\":\"phc_one\"",
    "\"event\":\"e\"", "\"distinct_id\":\"d\"", "\"token\":\"phc_two\"", "[[[[[[[[", "]]]]]]]]", "{\"a\":", "\xff",
    "\xc3", "\xed\xa0\x80", "\xf4\x90\x80\x80", std::string(1, '\0'), "\t", "\n", " ", "\"\\\"\"", "phx_", "1e",
};

std::string mutate(std::string s, Rng& rng) {
  int const rounds = rng.below(4) ? 1 : 2 + static_cast<int>(rng.below(3));  // mostly one change: more bodies get far
  for (int r = 0; r < rounds; ++r) {
    std::size_t const at = rng.below(s.size() + 1);
    switch (rng.below(6)) {
      case 0:  // flip a bit
        if (!s.empty()) s[rng.below(s.size())] ^= static_cast<char>(1 << rng.below(8));
        break;
      case 1:
        s.insert(at, tokens[rng.below(tokens.size())]);
        break;
      case 2:  // cut a range
        if (!s.empty()) s.erase(at, 1 + rng.below(16));
        break;
      case 3:  // repeat a range
        if (at < s.size()) {
          auto const piece = s.substr(at, 1 + rng.below(64));
          for (std::size_t i = 0, n = 1 + rng.below(8); i < n; ++i) s.insert(at, piece);
        }
        break;
      case 4:  // truncate
        s.resize(at);
        break;
      default:  // overwrite a byte with a token's first
        if (!s.empty()) s[rng.below(s.size())] = tokens[rng.below(tokens.size())][0];
        break;
    }
  }
  return s;
}

std::vector<std::string> json_seeds() {
  return {
      R"({"api_key":"phc_one","event":"$pageview","distinct_id":"alice","properties":{"$ip":"1.2.3.4","n":1.5,"l":[1,2,{"x":null}]}})",
      R"([{"event":"a","distinct_id":"d","token":"phc_two","timestamp":"2026-01-01T00:00:00Z"},{"event":"b","$distinct_id":7,"properties":{"token":"phc_two"}}])",
      R"({"api_key":"phc_one","sent_at":"2026-11-23T11:59:59.000Z","batch":[{"event":"a","distinct_id":"d","uuid":"0190a0a0-0000-7000-8000-000000000000","offset":5},{"event":"b","distinct_id":"e","$set":{"k":"\u00e9\ud83d\ude00"}}]})",
      R"({"token":"phc_one","batch":[{"event":"x","properties":{"distinct_id":"p","deep":{"a":{"b":{"c":[[[]]]}}}}}]})",
  };
}

// 0 when the scan takes the text; 1 when it refuses it as malformed JSON;
// -1 when it stopped for another reason (a shape, a limit) before the end.
int scan_verdict(std::string_view text) {
  try {
    (void)posthog::server::scan_payload(text, {});
    return 0;
  } catch (const CaptureError& e) {
    return std::string_view(e.what()).substr(0, 14) == "malformed JSON" ? 1 : -1;
  }
}

}  // namespace

TEST_CASE("Mutated capture bodies are taken whole or refused with a client error", "[capture][fuzz]") {
  auto const iterations = env_number("POSTHOG_FUZZ_ITERATIONS", 100'000);
  Rng rng{env_number("POSTHOG_FUZZ_SEED", 0x5eed'cafe'f00d'1234ull) | 1};
  auto const seeds = json_seeds();
  std::vector<std::string> lz_seeds;
  for (auto const& s : seeds) lz_seeds.push_back(posthog::testing::lz_string_base64(s));
  posthog::server::TokenResolver const teams = [](std::string_view token) -> std::optional<std::int64_t> {
    if (token == "phc_one") return 1;
    if (token == "phc_two") return 2;
    return std::nullopt;
  };
  constexpr std::size_t max_decoded = 1 << 20;

  std::uint64_t taken = 0, refused = 0, compared = 0, disagreements = 0;
  for (std::uint64_t i = 0; i < iterations; ++i) {
    auto const& seed = seeds[rng.below(seeds.size())];
    std::string body, query, content_type = "application/json", encoding;
    switch (rng.below(6)) {
      case 0:  // gzip of mutated text, or mutated gzip
        body = rng.below(2) ? posthog::testing::gzip(mutate(seed, rng)) : mutate(posthog::testing::gzip(seed), rng);
        content_type = "text/plain";
        break;
      case 1:  // a form of base64
        body = "data=" + posthog::testing::url_encode(rng.below(2) ? posthog::testing::base64(mutate(seed, rng))
                                                                    : mutate(posthog::testing::base64(seed), rng));
        content_type = "application/x-www-form-urlencoded";
        break;
      case 2:  // lz64, mutated
        body = mutate(lz_seeds[rng.below(lz_seeds.size())], rng);
        query = "compression=lz64";
        break;
      case 3:
        body = mutate(seed, rng);
        encoding = rng.below(2) ? "gzip" : "identity, br";
        break;
      default:
        body = mutate(seed, rng);
        break;
    }
    posthog::server::DecodedBody decoded;
    try {
      decoded = posthog::server::decode_capture_body({"POST", content_type, encoding, query, body}, max_decoded);
    } catch (const CaptureError& e) {
      ++refused;
      if (e.status() != 400 && e.status() != 413 && e.status() != 415) FAIL("decoder status " << e.status() << ": " << e.what());
      continue;
    }
    auto const text = decoded.text();
    if (int const verdict = scan_verdict(text); verdict >= 0) {
      boost::json::parse_options options;
      options.max_depth = 128;
      boost::system::error_code ec;
      (void)boost::json::parse(text, ec, {}, options);
      ++compared;
      if ((verdict == 0) == static_cast<bool>(ec)) {
        ++disagreements;
        FAIL_CHECK("the scan says " << (verdict ? "malformed" : "valid") << ", Boost.JSON says " << ec.message()
                                    << " for: " << text);
      }
    }
    try {
      CaptureContext context;
      context.ip = "203.0.113.1";
      context.partitions = 4;
      auto const captured = posthog::server::read_capture_payload(text, context, teams);
      ++taken;
      if (captured.team_id != 1 && captured.team_id != 2) FAIL("team " << captured.team_id);
      // What the worker does with it: every event capture took must parse,
      // and come out of normalisation whole.
      std::size_t events = 0;
      for (auto const& record : captured.records) {
        posthog::server::LogRecordView const view(record.payload);
        auto in_record = view.events();
        for (posthog::server::RecordEvent r; in_record.next(r);) {
        ++events;
        boost::json::parse_options options;
        options.max_depth = 128;
        boost::system::error_code parse_error;
        auto parsed = boost::json::parse(r.text, parse_error, {}, options);
        if (parse_error || !parsed.is_object()) FAIL("an event taken that does not parse: " << r.text);
        auto& e = parsed.as_object();
        posthog::server::normalise_event(e, view.team_id(), view, r.distinct_id, r.uuid);
        auto const* name = e.if_contains("event");
        auto const* id = e.if_contains("distinct_id");
        if (!name || !name->is_string() || name->get_string().empty() || !id || !id->is_string() ||
            id->get_string().empty() || id->get_string().size() > 200 || !e.at("uuid").is_string() ||
            e.at("team_id") != captured.team_id || !e.at("properties").is_object())
          FAIL("an event taken that is not whole: " << boost::json::serialize(e));
        }
      }
      if (events != captured.events) FAIL("records hold " << events << " events, capture counted " << captured.events);
    } catch (const CaptureError& e) {
      ++refused;
      if (e.status() != 400 && e.status() != 401 && e.status() != 413) FAIL("payload status " << e.status() << ": " << e.what());
    }
  }
  INFO("taken " << taken << ", refused " << refused << ", scan compared with Boost.JSON " << compared);
  CHECK(disagreements == 0);
  // The loop reached both outcomes and the comparison often enough to mean something.
  CHECK(taken > iterations / 50);
  CHECK(refused > iterations / 50);
  CHECK(compared > iterations / 4);
}

}  // namespace capture_fuzz_test
