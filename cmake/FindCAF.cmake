# FindCAF: the C++ Actor Framework's core and io libraries, as the imported
# targets CAF::core and CAF::io (the names CAF's own CMake config exports).
#
# A CAF that ships a CMake config (0.18 and later) is used as it is. CAF
# 0.17 as Debian packages it ships neither a CMake config nor a pkg-config
# file, so then its headers and libraries are found by name; CAF_ROOT or
# CMAKE_PREFIX_PATH point at another installation.
#
# Sets CAF_FOUND, CAF_VERSION ("0.17.6"), CAF_INCLUDE_DIR, CAF_CORE_LIBRARY,
# CAF_IO_LIBRARY.

find_package(CAF CONFIG QUIET COMPONENTS core io)
if(CAF_FOUND AND TARGET CAF::core AND TARGET CAF::io)
  # wtcache's headers use CAF 0.17's API (atom_constant, replies_to).
  if(CAF_VERSION VERSION_LESS 0.17 OR NOT CAF_VERSION VERSION_LESS 0.18)
    message(FATAL_ERROR "wtcache needs CAF 0.17; found CAF ${CAF_VERSION} at ${CAF_DIR}. "
                        "Point CAF_DIR (or CMAKE_PREFIX_PATH) at a CAF 0.17 installation.")
  endif()
  return()
endif()

find_path(CAF_INCLUDE_DIR caf/all.hpp)
find_library(CAF_CORE_LIBRARY caf_core)
find_library(CAF_IO_LIBRARY caf_io)

if(CAF_INCLUDE_DIR AND EXISTS "${CAF_INCLUDE_DIR}/caf/config.hpp")
  file(STRINGS "${CAF_INCLUDE_DIR}/caf/config.hpp" _caf_version_line
       REGEX "^#define CAF_VERSION [0-9]+")
  string(REGEX REPLACE "^#define CAF_VERSION ([0-9]+).*" "\\1" _caf_version "${_caf_version_line}")
  if(_caf_version)
    math(EXPR _caf_major "${_caf_version} / 10000")
    math(EXPR _caf_minor "(${_caf_version} / 100) % 100")
    math(EXPR _caf_patch "${_caf_version} % 100")
    set(CAF_VERSION "${_caf_major}.${_caf_minor}.${_caf_patch}")
  endif()
endif()

include(FindPackageHandleStandardArgs)
find_package_handle_standard_args(CAF
  REQUIRED_VARS CAF_CORE_LIBRARY CAF_IO_LIBRARY CAF_INCLUDE_DIR
  VERSION_VAR CAF_VERSION)

if(CAF_FOUND)
  find_package(Threads REQUIRED)
  if(NOT TARGET CAF::core)
    add_library(CAF::core UNKNOWN IMPORTED)
    set_target_properties(CAF::core PROPERTIES
      IMPORTED_LOCATION "${CAF_CORE_LIBRARY}"
      INTERFACE_INCLUDE_DIRECTORIES "${CAF_INCLUDE_DIR}"
      INTERFACE_LINK_LIBRARIES Threads::Threads)
  endif()
  if(NOT TARGET CAF::io)
    add_library(CAF::io UNKNOWN IMPORTED)
    set_target_properties(CAF::io PROPERTIES
      IMPORTED_LOCATION "${CAF_IO_LIBRARY}"
      INTERFACE_LINK_LIBRARIES CAF::core)
  endif()
endif()
mark_as_advanced(CAF_INCLUDE_DIR CAF_CORE_LIBRARY CAF_IO_LIBRARY)
