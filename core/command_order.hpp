// The order of one connection's commands, as Redis keeps it while wtcached
// runs them concurrently: a read waits for the connection's earlier writes
// to its keys, a write waits for its earlier reads of them (so that they
// cannot see it), and a write over keys of more than one shard is a
// barrier: it waits until everything before it has been answered and holds
// back everything after it. Commands over other keys overtake each other.
#pragma once

#include <algorithm>
#include <cstddef>
#include <string>
#include <unordered_map>

#include "core/commands.hpp"
#include "core/namespaces.hpp"

namespace wtcache {

// A write over keys of more than one of `shards` shards (MSET, DEL of
// several keys).
inline bool spans_shards(const command_plan& plan, std::size_t shards) {
  const auto& ws = plan.request.writes;
  return std::any_of(ws.begin(), ws.end(), [&](const key_write& w) {
    return shard_of(w.key, shards) != shard_of(ws.front().key, shards);
  });
}

class command_order {
public:
  // May `plan` go out now, ahead of what is still in flight?
  bool ready(const command_plan& plan, bool barrier) const {
    if (barrier_in_flight_)
      return false;
    if (barrier)
      return in_flight_ == 0;
    for (auto& k : plan.keys) {
      auto it = busy_.find(k);
      if (it != busy_.end() && it->second.writes > 0)
        return false;
    }
    for (auto& w : plan.request.writes) {
      auto it = busy_.find(w.key);
      if (it != busy_.end() && it->second.reads > 0)
        return false;
    }
    return true;
  }
  // `plan` went out.
  void start(const command_plan& plan, bool barrier) {
    ++in_flight_;
    barrier_in_flight_ = barrier_in_flight_ || barrier;
    for (auto& k : plan.keys)
      busy_[k].reads++;
    for (auto& w : plan.request.writes)
      busy_[w.key].writes++;
  }
  // `plan` was answered (or given up on): what waits for its keys may go.
  void finish(const command_plan& plan, bool barrier) {
    --in_flight_;
    if (barrier)
      barrier_in_flight_ = false;
    for (auto& k : plan.keys)
      release(k, false);
    for (auto& w : plan.request.writes)
      release(w.key, true);
  }
  std::size_t in_flight() const { return in_flight_; }

private:
  struct use {
    int reads = 0;
    int writes = 0;
  };
  void release(const std::string& key, bool write) {
    auto it = busy_.find(key);
    if (it == busy_.end())
      return;
    (write ? it->second.writes : it->second.reads)--;
    if (it->second.reads == 0 && it->second.writes == 0)
      busy_.erase(it);
  }

  std::unordered_map<std::string, use> busy_;
  std::size_t in_flight_ = 0;
  bool barrier_in_flight_ = false;
};

}  // namespace wtcache
