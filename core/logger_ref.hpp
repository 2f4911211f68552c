// The logger an actor logs through, never null: the host's (config::logger),
// else spdlog's default logger as it is at the time of the call. Settings
// structs hold one, so that settings made without a logger (tests) log as
// before instead of crashing.
#pragma once

#include <memory>

#include <spdlog/fwd.h>

namespace wtcache {

class logger_ref {
public:
  logger_ref() = default;
  logger_ref(std::shared_ptr<spdlog::logger> l) : l_(std::move(l)) {}  // NOLINT: implicit on purpose
  spdlog::logger* get() const;  // core/config.cpp
  spdlog::logger* operator->() const { return get(); }
  spdlog::logger& operator*() const { return *get(); }

private:
  std::shared_ptr<spdlog::logger> l_;
};

}  // namespace wtcache
