// `wtcached check`: validates what a start would need, without serving and
// without changing the backends (read-only queries): the configuration
// (already parsed by the caller), both backends reachable, Redis's eviction
// policy, and every namespace's table and columns. With no URLs, main
// starts the private servers first, as a start would. Prints a short
// report on stdout.
#pragma once

#include <string>

#include "app/config.hpp"

namespace wtcache {

// 0 when all is well, 1 when a check failed.
int run_check(const config& cfg, const std::string& config_source);

}  // namespace wtcache
