// Capture bodies in every encoding PostHog's clients use, and the bad ones.
#include <catch2/catch.hpp>

#include <boost/json.hpp>

#include "capture/body_decoder.hpp"
#include "capture/lz_string.hpp"
#include "capture_test_support.hpp"

namespace body_decoder_test {

using posthog::server::CaptureBody;
using posthog::server::CaptureError;
using posthog::server::decode_capture_body;

using posthog::testing::base64;
using posthog::testing::url_encode;

namespace {

constexpr std::size_t limit = 1 << 20;
const std::string event = R"({"event":"$pageview","distinct_id":"d","properties":{"city":"Linköping 😀"}})";

int status_of(const CaptureBody& body, std::size_t max = limit) {
  try {
    (void)decode_capture_body(body, max);
  } catch (const CaptureError& e) {
    return e.status();
  }
  return 200;
}

}  // namespace

TEST_CASE("Plain JSON bodies pass through", "[capture][decode]") {
  CHECK(decode_capture_body({"POST", "application/json", "", "", event}, limit).text() == event);
  CHECK(decode_capture_body({"POST", "text/plain", "", "ver=1.2", event}, limit).text() == event);
}

TEST_CASE("gzip by magic bytes, by ?compression and by Content-Encoding", "[capture][decode]") {
  auto const gz = posthog::testing::gzip(event);
  // posthog-js: text/plain with no marker at all.
  CHECK(decode_capture_body({"POST", "text/plain", "", "", gz}, limit).text() == event);
  CHECK(decode_capture_body({"POST", "text/plain", "", "compression=gzip-js", gz}, limit).text() == event);
  CHECK(decode_capture_body({"POST", "application/json", "gzip", "", gz}, limit).text() == event);
  CHECK(status_of({"POST", "text/plain", "", "compression=gzip", "not gzip at all"}) == 400);
  // What it cannot decode is named, not misread as malformed JSON.
  CHECK(status_of({"POST", "text/plain", "", "compression=zstd", event}) == 400);
  CHECK(status_of({"POST", "application/json", "br", "", event}) == 415);
  CHECK(decode_capture_body({"POST", "application/json", "identity", "", event}, limit).text() == event);
  CHECK(status_of({"POST", "text/plain", "", "", gz.substr(0, gz.size() / 2)}) == 400);  // truncated
}

TEST_CASE("Form bodies and GET ?data= carry base64 JSON", "[capture][decode]") {
  auto const form = "data=" + url_encode(base64(event));
  CHECK(decode_capture_body({"POST", "application/x-www-form-urlencoded", "", "compression=base64", form}, limit).text() == event);
  CHECK(decode_capture_body({"POST", "application/x-www-form-urlencoded; charset=UTF-8", "", "", form}, limit).text() == event);
  CHECK(decode_capture_body({"GET", "", "", "ip=1&" + form, ""}, limit).text() == event);
  // A '+' of base64 that a naive client left unencoded arrives as a space.
  std::string spaced = "data=" + base64(event);
  for (auto& c : spaced) if (c == '+') c = ' ';
  CHECK(decode_capture_body({"POST", "application/x-www-form-urlencoded", "", "", spaced}, limit).text() == event);
  CHECK(status_of({"POST", "application/x-www-form-urlencoded", "", "", "other=1"}) == 400);
  // curl -d sends raw JSON labelled as a form.
  CHECK(decode_capture_body({"POST", "application/x-www-form-urlencoded", "", "", event}, limit).text() == event);
  CHECK(status_of({"GET", "", "", "ip=1", ""}) == 400);
  CHECK(status_of({"POST", "application/x-www-form-urlencoded", "", "", "data=%%%!!!"}) == 400);
}

TEST_CASE("lz64 bodies, compressed by the real lz-string", "[capture][decode][lz64]") {
  auto const lz = posthog::testing::lz_string_base64(event);
  REQUIRE_FALSE(lz.empty());
  CHECK(decode_capture_body({"POST", "application/x-www-form-urlencoded", "", "compression=lz64",
                             "data=" + url_encode(lz)},
                            limit)
            .text() == event);
  CHECK(decode_capture_body({"POST", "text/plain", "", "compression=lz64", lz}, limit).text() == event);
  // Long repetitive text exercises the dictionary's growth.
  std::string big = "[";
  for (int i = 0; i < 2000; ++i) big += (i ? "," : "") + event;
  big += "]";
  auto const lz_big = posthog::testing::lz_string_base64(big);
  CHECK(decode_capture_body({"POST", "text/plain", "", "compression=lz64", lz_big}, 1 << 24).text() == big);
  CHECK(status_of({"POST", "text/plain", "", "compression=lz64", lz_big}, 4096) == 413);
  CHECK(status_of({"POST", "text/plain", "", "compression=lz64", "%%%"}) == 400);
  CHECK(status_of({"POST", "text/plain", "", "compression=lz64", lz.substr(0, lz.size() / 2)}) == 400);
}

TEST_CASE("Compression bombs stop at the limit with 413", "[capture][decode][limits]") {
  std::string const zeros(64 << 20, '0');  // 64 MiB that gzip turns into ~64 KiB
  auto const bomb = posthog::testing::gzip(zeros);
  REQUIRE(bomb.size() < (1 << 20));
  try {
    (void)decode_capture_body({"POST", "text/plain", "", "", bomb}, limit);
    FAIL("accepted");
  } catch (const CaptureError& e) {
    CHECK(e.status() == 413);
    CHECK(e.code() == "too_large");
    CHECK_THAT(e.what(), Catch::Contains("1048576 bytes"));
  }
  CHECK(status_of({"POST", "application/json", "", "", std::string(limit + 1, ' ')}) == 413);
}

TEST_CASE("lz64's limit counts the UTF-8 bytes produced, exactly", "[capture][decode][lz64][limits]") {
  std::string euros, faces;  // 3 bytes of UTF-8 from one UTF-16 unit; 4 bytes from a surrogate pair
  for (int i = 0; i < 1000; ++i) euros += "\u20ac";
  for (int i = 0; i < 500; ++i) faces += "\U0001F600";
  auto const lz_euros = posthog::testing::lz_string_base64(euros);
  auto const lz_faces = posthog::testing::lz_string_base64(faces);
  CHECK(decode_capture_body({"POST", "text/plain", "", "compression=lz64", lz_euros}, 3000).text() == euros);
  CHECK(status_of({"POST", "text/plain", "", "compression=lz64", lz_euros}, 2999) == 413);
  CHECK(decode_capture_body({"POST", "text/plain", "", "compression=lz64", lz_faces}, 2000).text() == faces);
  CHECK(status_of({"POST", "text/plain", "", "compression=lz64", lz_faces}, 1999) == 413);
}

TEST_CASE("Every gzip member is decoded; anything after the last is refused", "[capture][decode]") {
  auto const members = posthog::testing::gzip("[1,") + posthog::testing::gzip("2]");
  CHECK(decode_capture_body({"POST", "text/plain", "", "", members}, limit).text() == "[1,2]");
  CHECK(status_of({"POST", "text/plain", "", "", members + "junk"}) == 400);
  // The limit covers every member together.
  CHECK(status_of({"POST", "text/plain", "", "", members}, 4) == 413);
}

TEST_CASE("Content-Encoding is a list of codings, matched whole", "[capture][decode]") {
  auto const gz = posthog::testing::gzip(event);
  CHECK(decode_capture_body({"POST", "application/json", "x-gzip", "", gz}, limit).text() == event);
  CHECK(decode_capture_body({"POST", "application/json", " Gzip ", "", gz}, limit).text() == event);
  CHECK(decode_capture_body({"POST", "application/json", "identity, gzip", "", gz}, limit).text() == event);
  CHECK(status_of({"POST", "application/json", "notgzip", "", event}) == 415);
  CHECK(status_of({"POST", "application/json", "gzip;q=0", "", gz}) == 415);
  CHECK(status_of({"POST", "application/json", "gzip, br", "", gz}) == 415);
  CHECK(status_of({"POST", "application/json", "gzip, gzip", "", gz}) == 415);
}

TEST_CASE("A plain body is read in place, not copied", "[capture][decode]") {
  std::string const body = event;
  auto const decoded = decode_capture_body({"POST", "application/json", "", "", body}, limit);
  CHECK_FALSE(decoded.was_decoded);
  CHECK(decoded.text().data() == body.data());
}

}  // namespace body_decoder_test
