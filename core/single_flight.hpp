// Single-flight reads, one shard's: one database read of a key at a time.
// A GET is answered by a read that began after it arrived: the read in
// flight may have read the row before a write that was acknowledged before
// the GET (on another node, this shard never hears of it), so the GETs that
// arrive while it is out wait for the next read, which all of them share
// and which starts when the one in flight is back. A GET that saw a
// tombstone at version V may take the read in flight if its row is at V or
// newer: nothing older than V was acknowledged after V's tombstone went in.
// A write to the key that commits while a read is out closes that read to
// filling the cache (it may have read the older row).
#pragma once

#include <cstdint>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

namespace wtcache {

template <class Waiter>
class single_flight {
public:
  struct ticket {
    uint64_t id;
    bool first;  // the caller starts read `id` now; the others only wait
  };

  // How read `id` came back.
  struct result {
    bool failed = false;  // an error: every waiter gets it (no value, no lie)
    bool found = false;
    int64_t version = 0;  // the row's, when found
  };

  struct answered {
    std::vector<Waiter> waiters;  // to be answered with the read's result
    uint64_t next = 0;            // a read the caller starts now (0: none)
  };

  // Joins the next read of `key`, or starts one. `seen`: the version of the
  // tombstone this GET found in the cache (0: none). `may_fill`: whether the
  // read may fill the cache; a shared read fills only if all its GETs may.
  ticket join(const std::string& key, Waiter w, int64_t seen = 0, bool may_fill = true) {
    auto [at, fresh] = keys_.try_emplace(key);
    auto& k = at->second;
    if (fresh) {
      k.out = {next_id_++, true, may_fill, {}};
      k.out.waiters.push_back(std::move(w));
      return {k.out.id, true};
    }
    if (k.next.id == 0)
      k.next = {next_id_++, true, true, {}};
    k.next.may_fill = k.next.may_fill && may_fill;
    k.next.waiters.push_back(std::move(w));
    k.seen.push_back(seen);
    return {k.next.id, false};
  }

  // Read `id` is the one out for `key` and no write to the key has
  // committed since it began, so its row may fill the cache.
  bool current(const std::string& key, uint64_t id) const {
    auto k = keys_.find(key);
    return k != keys_.end() && k->second.out.id == id && k->second.out.current;
  }

  // Whether read `id` may fill the cache as far as its GETs are concerned.
  bool may_fill(const std::string& key, uint64_t id) const {
    auto k = keys_.find(key);
    return k != keys_.end() && k->second.out.id == id && k->second.out.may_fill;
  }

  // A write to `key` committed: the read out may no longer fill the cache.
  void invalidate(const std::string& key) {
    auto k = keys_.find(key);
    if (k != keys_.end())
      k->second.out.current = false;
  }

  // Read `id` of `key` is back: whom to answer with it, and the read to
  // start next for the GETs that must wait for a newer one.
  answered finish(const std::string& key, uint64_t id, result r) {
    answered out;
    auto at = keys_.find(key);
    if (at == keys_.end() || at->second.out.id != id)
      return out;
    auto& k = at->second;
    out.waiters = std::move(k.out.waiters);
    std::vector<Waiter> later;
    for (std::size_t i = 0; i < k.next.waiters.size(); ++i) {
      bool enough = r.failed || (r.found && k.seen[i] > 0 && r.version >= k.seen[i]);
      if (enough) {
        out.waiters.push_back(std::move(k.next.waiters[i]));
      } else {
        later.push_back(std::move(k.next.waiters[i]));
      }
    }
    if (later.empty()) {
      keys_.erase(at);
      return out;
    }
    k.out = {k.next.id, true, k.next.may_fill, std::move(later)};
    k.next = {};
    k.seen.clear();
    out.next = k.out.id;
    return out;
  }

  std::size_t reads_in_flight() const { return keys_.size(); }

private:
  struct read {
    uint64_t id = 0;  // 0: none
    bool current = true;
    bool may_fill = true;
    std::vector<Waiter> waiters;
  };
  struct key_reads {
    read out;                  // the read in flight
    read next;                 // the GETs that wait for the one after it
    std::vector<int64_t> seen; // per waiter of `next`: the tombstone it saw
  };
  std::unordered_map<std::string, key_reads> keys_;
  uint64_t next_id_ = 1;
};

}  // namespace wtcache
