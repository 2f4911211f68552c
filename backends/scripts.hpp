// The Lua scripts wtcached runs inside Redis, one per file under
// backends/scripts/ and compiled into the binary from there:
//   fence.lua    a round of cache writes, each only over an older entry
//   enqueue.lua  write-behind commands: the cache entry and the queue entry
//   settle.lua   after a write-behind batch committed: acknowledge, unpin
//   mark.lua     before a write-through transaction: its entries pending
// redis_connection loads them and calls them by EVALSHA.
#pragma once

#include <cstddef>
#include <cstdint>

namespace wtcache {

enum class redis_script : uint8_t { fence, enqueue, settle, mark };
inline constexpr std::size_t redis_script_count = 4;

// The script's Lua source, as in its file.
const char* script_source(redis_script s);
// Its file's name without ".lua", for messages.
const char* script_name(redis_script s);

}  // namespace wtcache
