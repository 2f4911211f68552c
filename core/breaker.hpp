// A circuit breaker per backend, shared by every shard of a node:
//
//   closed --(N consecutive failures)--> open --(open_for passes)--> half-open
//   half-open --(the one probe succeeds)--> closed
//   half-open --(the probe fails)--> open again, twice as long (up to a cap)
//   half-open --(no answer reported for max_open_for)--> the next request probes
//
// While open, requests fail at once instead of waiting for a timeout each.
// Thread-safe (a small mutex: shards on different threads share it). Pure
// logic with the time passed in, so it is unit-tested without a clock.
#pragma once

#include <chrono>
#include <cstdint>
#include <mutex>
#include <string>

namespace wtcache {

class circuit_breaker {
public:
  using time_point = std::chrono::steady_clock::time_point;
  enum class state { closed, open, half_open };

  struct settings {
    unsigned failures_to_open = 5;
    std::chrono::milliseconds open_for{1000};
    // Each failed probe doubles the wait before the next, up to this.
    std::chrono::milliseconds max_open_for{10000};
  };

  // What a call changed, for the caller to log (once per transition).
  struct transition {
    bool opened = false;
    bool closed = false;
    std::chrono::milliseconds outage{0};  // closed: since it opened
    explicit operator bool() const { return opened || closed; }
  };

  void configure(settings s);
  // May a request go out now? Open: no. Half-open: one probe at a time.
  bool allow(time_point now);
  transition success(time_point now);
  transition failure(time_point now);
  state current(time_point now) const;
  static const char* name(state s);
  uint64_t times_opened() const;

private:
  mutable std::mutex mutex_;
  settings cfg_;
  state state_ = state::closed;
  unsigned failures_ = 0;
  bool probing_ = false;
  unsigned failed_probes_ = 0;
  time_point opened_at_{}, retry_at_{}, probe_given_up_at_{};
  uint64_t times_opened_ = 0;
};

}  // namespace wtcache
