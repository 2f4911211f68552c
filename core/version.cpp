#include "core/version.hpp"

namespace wtcache {

#ifndef WTCACHE_VERSION
#error "WTCACHE_VERSION is set by CMakeLists.txt"
#endif
const char* version() { return WTCACHE_VERSION; }

}  // namespace wtcache
