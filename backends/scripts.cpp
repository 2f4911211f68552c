// The compiled-in Lua scripts by name (generated from backends/scripts/*.lua).
#include "backends/scripts.hpp"

namespace wtcache {

namespace scripts {
// Generated from backends/scripts/*.lua by CMakeLists.txt.
extern const char* const fence;
extern const char* const enqueue;
extern const char* const settle;
extern const char* const mark;
}  // namespace scripts

const char* script_source(redis_script s) {
  switch (s) {
    case redis_script::fence: return scripts::fence;
    case redis_script::enqueue: return scripts::enqueue;
    case redis_script::settle: return scripts::settle;
    case redis_script::mark: return scripts::mark;
  }
  return "";
}

const char* script_name(redis_script s) {
  switch (s) {
    case redis_script::fence: return "fence";
    case redis_script::enqueue: return "enqueue";
    case redis_script::settle: return "settle";
    case redis_script::mark: return "mark";
  }
  return "?";
}

}  // namespace wtcache
