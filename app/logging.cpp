// Logging setup: text or JSON lines on stderr, at the chosen level.
#include "app/logging.hpp"

#include <ctime>
#include <memory>

#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include "core/json.hpp"

namespace wtcache {

namespace {

// {"time":"2026-11-23T03:44:29.500Z","level":"info","msg":"..."}
class json_formatter : public spdlog::formatter {
public:
  void format(const spdlog::details::log_msg& msg, spdlog::memory_buf_t& dest) override {
    using namespace std::chrono;
    auto t = msg.time;
    auto secs = system_clock::to_time_t(t);
    auto millis = duration_cast<milliseconds>(t.time_since_epoch()).count() % 1000;
    std::tm utc{};
    gmtime_r(&secs, &utc);
    char when[40];
    auto n = std::strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%S", &utc);
    std::snprintf(when + n, sizeof when - n, ".%03dZ", static_cast<int>(millis));
    std::string line = "{\"time\":\"";
    line += when;
    line += "\",\"level\":";
    auto level = spdlog::level::to_string_view(msg.level);
    json_quote(line, std::string_view(level.data(), level.size()));
    line += ",\"msg\":";
    json_quote(line, std::string_view(msg.payload.data(), msg.payload.size()));
    line += "}\n";
    dest.append(line.data(), line.data() + line.size());
  }
  std::unique_ptr<spdlog::formatter> clone() const override {
    return std::make_unique<json_formatter>();
  }
};

}  // namespace

void set_up_logging(const std::string& format, const std::string& level) {
  spdlog::drop("wtcached");
  auto logger = format == "json" ? spdlog::stderr_logger_mt("wtcached")
                                 : spdlog::stderr_color_mt("wtcached");
  spdlog::set_default_logger(logger);
  if (format == "json")
    logger->set_formatter(std::make_unique<json_formatter>());
  else
    logger->set_pattern("%Y-%m-%d %H:%M:%S.%e %^%l%$ %v");
  spdlog::set_level(spdlog::level::from_str(level));
}

}  // namespace wtcache
