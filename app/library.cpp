// libwtcache.so: the static libraries whole, behind the installed headers
// (CMakeLists.txt links them in). Nothing of its own.
#include "app/service.hpp"
