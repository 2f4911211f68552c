// wtcached's logging: spdlog to stderr, as text or as one JSON object per
// line ({"time","level","msg"}), at the level --log-level asks for.
#pragma once

#include <string>

namespace wtcache {

// `format` is "text" or "json"; `level` one of spdlog's names ("info", ...).
void set_up_logging(const std::string& format, const std::string& level);

}  // namespace wtcache
