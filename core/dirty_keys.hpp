// One shard's dirty keys: keys whose cache copy is not trusted because a
// cache update after COMMIT failed, the outcome of a write is unknown, or
// another node recorded them in wtcache_dirty_keys. Their reads go to
// PostgreSQL until a tombstone at the key's version (or, for an unknown
// outcome, at a fresh one, above any that could have committed) has landed
// in Redis; a retry loop with backoff writes those tombstones.
//
// Every mark has a generation: a tombstone only clears the mark it was
// written for, never one made while it was on its way.
#pragma once

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

namespace wtcache {

class dirty_keys {
public:
  struct mark {
    int64_t version = 0;  // 0: unknown, a fresh version is drawn for the tombstone
    uint64_t generation = 0;
    bool shared = false;  // (also) in wtcache_dirty_keys, whose record goes once it lands
  };
  struct tombstone {
    std::string key;
    int64_t version;
    uint64_t generation;
    bool shared;
  };

  // `marked`: the node's count of dirty keys (core/node_health.hpp), kept
  // in step from now on; null: none.
  explicit dirty_keys(std::atomic<uint64_t>* marked = nullptr) : marked_(marked) {}
  void count_in(std::atomic<uint64_t>* marked) { marked_ = marked; }

  // Marks `key` at `version`: known versions merge to the newest, and an
  // unknown one (0) absorbs every other.
  void mark_dirty(const std::string& key, int64_t version, bool shared = false) {
    auto [it, inserted] = marks_.emplace(key, mark{version, ++generation_, shared});
    if (inserted) {
      if (marked_)
        marked_->fetch_add(1);
      return;
    }
    auto& m = it->second;
    m.version = (m.version == 0 || version == 0) ? 0 : std::max(m.version, version);
    m.generation = generation_;
    m.shared = m.shared || shared;
  }

  // Another node recorded `key` at `version` in wtcache_dirty_keys: marked,
  // unless a mark at that version or an unknown one is here already (then
  // it only notes the record).
  void recorded(const std::string& key, int64_t version) {
    auto it = marks_.find(key);
    if (it == marks_.end() || (it->second.version != 0 && it->second.version < version))
      mark_dirty(key, version, true);
    else
      it->second.shared = true;
  }

  // The key's newest value at `version` is in the cache: a mark for no
  // later version goes (an unknown one stays: a later write may have
  // committed).
  void cached(const std::string& key, int64_t version) {
    auto it = marks_.find(key);
    if (it != marks_.end() && it->second.version != 0 && it->second.version <= version)
      erase(it);
  }

  // The tombstone written for `t` landed: its mark goes unless the key was
  // marked again meanwhile. Returns the mark that went (its `shared` is
  // current: a record noted after the tombstone was sent counts too).
  std::optional<mark> landed(const tombstone& t) {
    auto it = marks_.find(t.key);
    if (it == marks_.end() || it->second.generation != t.generation)
      return std::nullopt;
    auto gone = it->second;
    erase(it);
    return gone;
  }

  // The tombstones to write now, unknown versions at `fresh`.
  std::vector<tombstone> tombstones(int64_t fresh) const {
    std::vector<tombstone> out;
    out.reserve(marks_.size());
    for (auto& [key, m] : marks_)
      out.push_back({key, m.version == 0 ? fresh : m.version, m.generation, m.shared});
    return out;
  }
  // Some mark needs a fresh version first.
  bool needs_fresh_version() const {
    for (auto& kv : marks_)
      if (kv.second.version == 0)
        return true;
    return false;
  }

  bool contains(const std::string& key) const { return marks_.count(key) > 0; }
  const mark* find(const std::string& key) const {
    auto it = marks_.find(key);
    return it == marks_.end() ? nullptr : &it->second;
  }
  bool empty() const { return marks_.empty(); }
  std::size_t size() const { return marks_.size(); }

  // The retry loop: a retry is due (schedule() says whether to arm its
  // timer), after `attempt` failures in a row (for the backoff).
  bool schedule() {
    if (retry_scheduled_ || marks_.empty())
      return false;
    retry_scheduled_ = true;
    return true;
  }
  void retry_started() { retry_scheduled_ = false; }
  void retry_failed() { ++attempt_; }
  // A round of tombstones was answered: the backoff starts over once no
  // key is left, and grows while some keep failing.
  void retry_answered() { attempt_ = marks_.empty() ? 0 : attempt_ + 1; }
  unsigned attempt() const { return attempt_; }

  dirty_keys(const dirty_keys&) = delete;
  dirty_keys& operator=(const dirty_keys&) = delete;
  dirty_keys(dirty_keys&&) = default;
  dirty_keys& operator=(dirty_keys&&) = default;

private:
  void erase(std::unordered_map<std::string, mark>::iterator it) {
    marks_.erase(it);
    if (marked_)
      marked_->fetch_sub(1);
  }

  std::atomic<uint64_t>* marked_;
  std::unordered_map<std::string, mark> marks_;
  uint64_t generation_ = 0;
  bool retry_scheduled_ = false;
  unsigned attempt_ = 0;
};

}  // namespace wtcache
