// Single-flight reads, one shard's: the GETs of a key that arrive while a
// database read of it is in flight wait for that read instead of starting
// their own. A write to the key that commits meanwhile closes the read to
// newcomers (it may have read the older row): GETs after the commit start
// a read of their own, and the old read may no longer fill the cache.
#pragma once

#include <cstdint>
#include <string>
#include <unordered_map>
#include <vector>

namespace wtcache {

template <class Waiter>
class single_flight {
public:
  struct ticket {
    uint64_t id;
    bool first;  // the caller starts the read; the others only wait
  };

  // Joins the read of `key` that new GETs join, or opens one.
  ticket join(const std::string& key, Waiter w) {
    auto open = open_.find(key);
    if (open != open_.end()) {
      waiters_[open->second].push_back(std::move(w));
      return {open->second, false};
    }
    auto id = next_id_++;
    waiters_[id].push_back(std::move(w));
    open_.emplace(key, id);
    return {id, true};
  }

  // Read `id` is still the one new GETs of `key` join: no write to the key
  // has committed since it began, so its row may fill the cache.
  bool current(const std::string& key, uint64_t id) const {
    auto open = open_.find(key);
    return open != open_.end() && open->second == id;
  }

  // A write to `key` committed: GETs from now on start a read of their own.
  void invalidate(const std::string& key) { open_.erase(key); }

  // Read `id` is done: everyone who waited on it, to be answered. If it was
  // still open, GETs of `key` from now on start a read of their own.
  std::vector<Waiter> finish(const std::string& key, uint64_t id) {
    if (current(key, id))
      open_.erase(key);
    auto node = waiters_.find(id);
    if (node == waiters_.end())
      return {};
    auto out = std::move(node->second);
    waiters_.erase(node);
    return out;
  }

  std::size_t reads_in_flight() const { return waiters_.size(); }

private:
  std::unordered_map<std::string, uint64_t> open_;  // key -> the read newcomers join
  std::unordered_map<uint64_t, std::vector<Waiter>> waiters_;
  uint64_t next_id_ = 1;
};

}  // namespace wtcache
