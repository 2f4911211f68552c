// The one place the version lives (from CMake's project(VERSION)).
#pragma once

namespace wtcache {

#ifndef WTCACHE_VERSION
#define WTCACHE_VERSION "unknown"
#endif
inline constexpr const char* version = WTCACHE_VERSION;

}  // namespace wtcache
