// What a write does to its key; shared by the store and cache protocols.
#pragma once

#include <cstdint>

namespace wtcache {

enum class op_kind : uint8_t { set, del, incr };

}  // namespace wtcache
