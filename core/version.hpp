// The library's version, from CMake's project(VERSION) (core/version.cpp).
// Installed hosts read it from <wtcache/version.hpp> (cmake/version.hpp.in).
#pragma once

namespace wtcache {

// "0.2.0", as the library was built.
const char* version();

}  // namespace wtcache
