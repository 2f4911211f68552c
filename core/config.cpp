// The configuration's one function: whom a service logs through.
#include "core/config.hpp"

#include <spdlog/spdlog.h>

namespace wtcache {

std::shared_ptr<spdlog::logger> logger_of(const config& cfg) {
  return cfg.logger ? cfg.logger : spdlog::default_logger();
}

}  // namespace wtcache
