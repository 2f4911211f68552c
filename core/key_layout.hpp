// Where wtcached keeps things in Redis: one layout for a single Redis and a
// Redis Cluster. Every key is `PREFIX{g}...`, with g a hash-tag group (0 to
// groups - 1): Redis hashes only what is between the braces, so a client
// key's cache entry, its write-behind stream, its queue's counters and the
// version clock its writes draw from share one slot, and every script call
// about one group touches one slot.
//
//   PREFIX{g}:KEY        the cache entry of client key KEY (a hash)
//   PREFIX{g}q:TABLE     the write-behind stream of TABLE's group g
//   PREFIX{g}n:TABLE     its counters (entries n, bytes b, full while
//                        refusing) and the version clock c its writes use
//   PREFIX{g}t           the group's scratch key (enqueue.lua's arithmetic)
//   PREFIX{layout}       the layout in use: groups, and writers per table
//
// A client key's group follows Redis Cluster's own rule for it: a key with a
// hash tag ("{user1}:cart") is grouped by its tag, so keys that a client
// made share a slot under Redis Cluster share a group here too.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace wtcache {

// The part of a key Redis Cluster hashes: the text between the first "{"
// and the first "}" after it when that is not empty, else the whole key.
std::string_view hash_tag(std::string_view key);
// Redis Cluster's slot of a key: CRC16 (XMODEM) of its hash tag, mod 16384.
uint16_t key_slot(std::string_view key);
inline constexpr std::size_t cluster_slots = 16384;

// The number of groups a layout may have: a power of two, 256 to 16384.
bool valid_group_count(std::size_t groups);

struct key_layout {
  std::string prefix = "wtc:";
  std::size_t groups = 256;

  // The group of a client key.
  std::size_t group_of(std::string_view client_key) const;
  // "PREFIX{g}": every key of group g starts so.
  std::string tag(std::size_t g) const;
  std::string entry(std::string_view client_key) const;
  // The client key of an entry's key (what follows "PREFIX{g}:").
  std::string_view client_key(std::string_view entry) const;
  std::string stream(std::string_view table, std::size_t g) const;
  std::string stats(std::string_view table, std::size_t g) const;
  std::string scratch(std::size_t g) const;
  std::string meta() const { return prefix + "{layout}"; }
};

// A group's share of a namespace's queue limit: the limit divided by the
// groups, rounded up (at least 1).
inline std::size_t group_share(std::size_t limit, std::size_t groups) {
  return limit / groups + (limit % groups != 0 || limit == 0 ? 1 : 0);
}

// The keys of the layout before hash-tag groups (a single Redis only), read
// at start to carry a data set over: a namespace's streams and counters, and
// the one version clock.
std::string old_queue_stream(const std::string& prefix, std::string_view table, std::size_t i);
std::string old_queue_stats(const std::string& prefix, std::string_view table);
std::string old_version_clock(const std::string& prefix);

}  // namespace wtcache
