// The currency normaliser, with its rates inline and fetched from a real HTTP
// server on the loopback interface.
#include <catch2/catch.hpp>
#include <httplib.h>
#include <posthog/testing.hpp>

#include <chrono>
#include <mutex>
#include <thread>

#include "../currency_normalizer.hpp"

using posthog::plugins::CurrencyNormalizer;
using posthog::testing::make_event;
using posthog::testing::PluginHarness;

namespace {

const char* const usd_rates = R"({"base": "USD", "rates": {"EUR": 0.9, "GBP": 0.8, "JPY": 150}})";

boost::json::object team(const char* target = "EUR") {
  return {{"normalizedCurrency", target}, {"rates", usd_rates}};
}

boost::json::object priced(boost::json::value price, boost::json::value currency) {
  return make_event("purchase", {{"price", std::move(price)}, {"currency", std::move(currency)}});
}

// A rates endpoint on 127.0.0.1 whose answer the test changes.
class RatesServer {
 public:
  RatesServer() {
    server_.Get("/latest.json", [this](const httplib::Request&, httplib::Response& res) {
      std::lock_guard lock(mutex_);
      res.status = status_;
      res.set_content(body_, "application/json");
    });
    port_ = server_.bind_to_any_port("127.0.0.1");
    thread_ = std::thread([this] { server_.listen_after_bind(); });
    while (!server_.is_running()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  ~RatesServer() {
    server_.stop();
    thread_.join();
  }
  void answer(int status, std::string body) {
    std::lock_guard lock(mutex_);
    status_ = status;
    body_ = std::move(body);
  }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_) + "/latest.json"; }

 private:
  httplib::Server server_;
  std::mutex mutex_;
  int status_ = 200;
  std::string body_ = usd_rates;
  int port_ = 0;
  std::thread thread_;
};

bool logged(const std::vector<posthog::testing::LogLine>& logs, std::string_view text) {
  for (auto const& l : logs)
    if (l.message.find(text) != std::string::npos) return true;
  return false;
}

}  // namespace

TEST_CASE("currency-normalizer converts the price into the team's currency", "[currency]") {
  PluginHarness<CurrencyNormalizer> plugin(team("EUR"));
  auto p = plugin.process_event(priced(10, "USD"))->at("properties").as_object();
  CHECK(p.at("normalized_price") == 9.0);
  CHECK(p.at("normalized_currency") == "EUR");
  CHECK(p.at("price") == 10);  // the original stays
  // Through the base, from a string amount and a lower-case code; rounded to 4 decimals.
  p = plugin.process_event(priced("8", "gbp"))->at("properties").as_object();
  CHECK(p.at("normalized_price") == 9.0);
  p = plugin.process_event(priced(1, "JPY"))->at("properties").as_object();
  CHECK(p.at("normalized_price") == 0.006);
}

TEST_CASE("currency-normalizer uses the configured property names", "[currency]") {
  auto config = team("JPY");
  config["amountProperty"] = "amount";
  config["currencyProperty"] = "cur";
  config["normalizedAmountProperty"] = "amount_jpy";
  config["normalizedCurrencyProperty"] = "amount_currency";
  PluginHarness<CurrencyNormalizer> plugin(config);
  auto const p = plugin.process_event(make_event("e", {{"amount", 2}, {"cur", "USD"}}))->at("properties");
  CHECK(p.at("amount_jpy") == 300.0);
  CHECK(p.at("amount_currency") == "JPY");
}

TEST_CASE("currency-normalizer leaves events without a price alone, silently", "[currency]") {
  PluginHarness<CurrencyNormalizer> plugin(team());
  for (auto e : {make_event("e"), make_event("e", {{"price", 3}}), make_event("e", {{"currency", "USD"}})})
    CHECK(*plugin.process_event(e) == e);
  CHECK(plugin.logs().empty());
}

TEST_CASE("currency-normalizer logs unknown currencies and malformed amounts, event unchanged", "[currency]") {
  PluginHarness<CurrencyNormalizer> plugin(team());
  auto unknown = priced(5, "XYZ");
  CHECK(*plugin.process_event(unknown) == unknown);
  CHECK(logged(plugin.logs(), "no exchange rate for 'XYZ'"));
  for (auto bad : {boost::json::value("ten"), boost::json::value(boost::json::object{}), boost::json::value("1.5x")}) {
    auto e = priced(bad, "USD");
    CHECK(*plugin.process_event(e) == e);
  }
  CHECK(logged(plugin.logs(), "properties.price is not a number (\"ten\")"));
  auto e = priced(5, 42);
  CHECK(*plugin.process_event(e) == e);
  CHECK(logged(plugin.logs(), "properties.currency is not a currency code (42)"));
  for (auto const& l : plugin.logs()) CHECK(l.level == POSTHOG_LOG_WARN);
}

TEST_CASE("currency-normalizer shares the instance's rates between teams", "[currency]") {
  boost::json::object settings{{"rates", boost::json::parse(R"({"EUR": 1, "SEK": 11.5})")}};
  PluginHarness<CurrencyNormalizer> plugin({{"normalizedCurrency", "EUR"}}, settings);
  CHECK(plugin.process_event(priced(23, "SEK"))->at("properties").at("normalized_price") == 2.0);
}

TEST_CASE("currency-normalizer fetches rates from a URL and refreshes them hourly", "[currency][http]") {
  RatesServer server;
  boost::json::object settings{{"rates_url", server.url()}, {"refresh_seconds", 0}};
  PluginHarness<CurrencyNormalizer> plugin({{"normalizedCurrency", "EUR"}}, settings);
  CHECK(plugin.process_event(priced(10, "USD"))->at("properties").at("normalized_price") == 9.0);

  server.answer(200, R"({"base": "USD", "rates": {"EUR": 0.5}})");
  plugin.run_every_hour();
  CHECK(plugin.process_event(priced(10, "USD"))->at("properties").at("normalized_price") == 5.0);
  CHECK(logged(plugin.logs(), "exchange rates refreshed from " + server.url()));

  // A failed refresh keeps the last good rates and says why.
  server.answer(503, "busy");
  plugin.run_every_hour();
  CHECK(plugin.process_event(priced(10, "USD"))->at("properties").at("normalized_price") == 5.0);
  CHECK(logged(plugin.logs(), "refreshing exchange rates failed, keeping the previous ones"));
  CHECK(logged(plugin.logs(), "HTTP 503"));
  server.answer(200, "not json");
  plugin.run_every_hour();
  CHECK(logged(plugin.logs(), "did not answer JSON"));
  CHECK(plugin.process_event(priced(10, "USD"))->at("properties").at("normalized_price") == 5.0);
}

TEST_CASE("currency-normalizer fetches at most once per refresh period, whatever the teams", "[currency][http]") {
  RatesServer server;
  boost::json::object settings{{"rates_url", server.url()}};  // default period: 50 minutes
  PluginHarness<CurrencyNormalizer> plugin({{"normalizedCurrency", "EUR"}}, settings);
  server.answer(200, R"({"base": "USD", "rates": {"EUR": 0.5}})");
  plugin.run_every_hour();  // just fetched at setup: not due
  CHECK(plugin.process_event(priced(10, "USD"))->at("properties").at("normalized_price") == 9.0);
}

TEST_CASE("currency-normalizer refuses what it cannot serve, naming the field", "[currency][config]") {
  auto refusal = [](boost::json::object config, boost::json::object settings = {}) -> std::string {
    try {
      PluginHarness<CurrencyNormalizer> plugin(std::move(config), std::move(settings));
    } catch (const posthog::ConfigError& e) {
      return e.what();
    }
    return "accepted";
  };
  CHECK_THAT(refusal({{"rates", usd_rates}}), Catch::Contains("normalizedCurrency"));  // required
  CHECK_THAT(refusal(team("CHF")), Catch::Contains("'normalizedCurrency'") && Catch::Contains("no rate for 'CHF'"));
  CHECK_THAT(refusal({{"normalizedCurrency", "EUR"}}), Catch::Contains("'rates'") && Catch::Contains("no exchange rates"));
  CHECK_THAT(refusal({{"normalizedCurrency", "EUR"}, {"rates", R"({"EUR": "one"})"}}),
             Catch::Contains("'rates'") && Catch::Contains("the rate of EUR is not a number"));
  CHECK_THAT(refusal({{"normalizedCurrency", "EUR"}, {"rates", R"({"EUR": -1})"}}), Catch::Contains("positive"));
  CHECK_THAT(refusal({{"normalizedCurrency", "EUR"}}, {{"rates_url", "http://127.0.0.1:1/latest.json"}}),
             Catch::Contains("'rates_url'") && Catch::Contains("fetching http://127.0.0.1:1/latest.json failed"));
  CHECK_THAT(refusal({{"normalizedCurrency", "EUR"}}, {{"rates_url", "ftp:/x"}}), Catch::Contains("not an http(s) URL"));
  // An unreachable URL with an inline table: the table serves.
  CHECK(refusal({{"normalizedCurrency", "EUR"}},
                {{"rates_url", "http://127.0.0.1:1/latest.json"}, {"rates", boost::json::parse(usd_rates)}}) ==
        "accepted");
}
