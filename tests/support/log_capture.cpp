// The test sink on spdlog's default logger.
#include "tests/support/log_capture.hpp"

#include <memory>
#include <mutex>

#include <spdlog/sinks/base_sink.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

namespace wtcache::test {

namespace {

std::mutex watcher_mutex;
log_watcher current;

class watching_sink : public spdlog::sinks::base_sink<std::mutex> {
protected:
  void sink_it_(const spdlog::details::log_msg& msg) override {
    std::string line(msg.payload.data(), msg.payload.size());
    std::lock_guard<std::mutex> guard(watcher_mutex);
    if (current)
      current(line);
  }
  void flush_() override {}
};

}  // namespace

void watch_log(log_watcher watcher) {
  static std::once_flag installed;
  std::call_once(installed, [] {
    auto logger = std::make_shared<spdlog::logger>(
      "wtcache-test", spdlog::sinks_init_list{std::make_shared<spdlog::sinks::stdout_color_sink_mt>(),
                                              std::make_shared<watching_sink>()});
    // The logger it replaces stays alive: a thread may still hold it.
    static auto previous = spdlog::default_logger();
    spdlog::set_default_logger(logger);
  });
  std::lock_guard<std::mutex> guard(watcher_mutex);
  current = std::move(watcher);
}

}  // namespace wtcache::test
