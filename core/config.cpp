// Whom a service logs through.
#include "core/config.hpp"
#include "core/logger_ref.hpp"

#include <spdlog/spdlog.h>

namespace wtcache {

std::shared_ptr<spdlog::logger> logger_of(const config& cfg) {
  return cfg.logger ? cfg.logger : spdlog::default_logger();
}

spdlog::logger* logger_ref::get() const {
  return l_ ? l_.get() : spdlog::default_logger_raw();
}

}  // namespace wtcache
