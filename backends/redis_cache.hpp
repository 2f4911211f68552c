// What wtcached keeps in Redis, and the calls that read and write it over a
// redis_connection. A cache entry is a hash {v: version, k: kind, d: data}
// with kind "v" (a value), "t" (a tombstone) or "x" (a write-behind DEL not
// yet in PostgreSQL). It is written only through the fence script, which
// never moves an entry to an older version; write-behind commands go
// through the enqueue script, which updates the entry and appends to the
// queue's stream in one step. A write-through transaction marks its entries
// pending before it commits (mark.lua: fields p, pu and p:<id>), and its
// cache update takes the mark away again.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <caf/expected.hpp>

#include <spdlog/fwd.h>

#include "backends/redis_connection.hpp"
#include "core/key_layout.hpp"
#include "messages/cache_protocol.hpp"

namespace wtcache {

// Keys by slot: the indexes of `keys` in groups of one slot each (in order
// of first appearance), or for a single Redis one group of all.
std::vector<std::vector<std::size_t>> by_slot(const std::vector<std::string>& keys, bool cluster);

// A cache entry from the fields v, k, d, e and p of its hash (as HMGET
// returns them: v and k are there, d and e may not be; e is a write-behind
// value's expiry; p counts the pending marks, and an entry with any reads
// as a tombstone at version 0).
cache_entry cache_entry_of(std::string_view version, std::string_view kind,
                           std::string_view data, std::string_view expires,
                           std::string_view marks = {});

// The entry an HMGET key v k d e p answered. A reply that is not a well-formed
// entry (absent, another program's key, an error) is an absent entry: the
// fence script replaces whatever is there.
cache_entry entry_of_reply(const redisReply* r);
// The command that reads an entry, as RESP: for connections hiredis does
// not drive (the cache reader).
void append_entry_read(std::string& out, std::string_view redis_key);

// One pipelined round of HMGETs. A key that is not a well-formed entry
// (absent, another program's, an error reply) reads as absent.
caf::expected<std::vector<cache_entry>> read_entries(redis_connection& redis,
                                                     const std::vector<std::string>& keys);

// Marks the entries pending (mark.lua) with mark `id` for `lifetime_ms`,
// in one call. An error means some may be marked: the marks then lapse.
caf::error mark_pending(redis_connection& redis, const std::vector<std::string>& redis_keys,
                        const std::string& id, int64_t lifetime_ms);
// The same in two halves, so that its round trip overlaps other work:
// send_mark sends the call (connecting first); mark_answered reads its
// answer, and makes the whole call again if Redis had lost the script.
caf::error send_mark(redis_connection& redis, const std::vector<std::string>& redis_keys,
                     const std::string& id, int64_t lifetime_ms);
caf::error mark_answered(redis_connection& redis, const std::vector<std::string>& redis_keys,
                         const std::string& id, int64_t lifetime_ms);

// A round of fenced writes, up to 128 entries and 4 MiB per script call,
// the calls pipelined. A call the script cache lost (NOSCRIPT) is sent
// again once the script is loaded again; an entry whose call failed is
// cache_write_result::failed.
caf::expected<std::vector<cache_write_result>>
write_fenced(redis_connection& redis, const std::vector<cache_write>& writes, spdlog::logger& log);

// The same in two halves, so that the round trip overlaps other work:
// send_fenced sends the calls (connecting first, no answer read);
// fenced_answers reads their answers, given the same writes.
caf::error send_fenced(redis_connection& redis, const std::vector<cache_write>& writes);
caf::expected<std::vector<cache_write_result>>
fenced_answers(redis_connection& redis, const std::vector<cache_write>& writes,
               spdlog::logger& log);

// Write-behind commands in one call of the enqueue script, each with its
// group's scratch key (`layout`); on a Redis Cluster every write must be of
// one slot. Once the call went out, a lost connection is
// ec::outcome_unknown: it may have run.
caf::expected<std::vector<queued_result>> enqueue(redis_connection& redis,
                                                  const key_layout& layout,
                                                  const std::vector<queued_write>& writes);

// The figures of a probe (redis_figure, messages/cache_protocol.hpp): INFO
// of every master, and a cluster's CLUSTER INFO.
caf::expected<std::vector<int64_t>> info_figures(redis_connection& redis);

}  // namespace wtcache
