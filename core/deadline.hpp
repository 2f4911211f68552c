// Deadlines as they travel between actors: steady-clock nanoseconds, so a
// request carries its own, whichever thread looks at it.
#pragma once

#include <chrono>
#include <cstdint>

namespace wtcache {

// The deadline `d` from now.
inline int64_t deadline_after(std::chrono::nanoseconds d) {
  return (std::chrono::steady_clock::now() + d).time_since_epoch().count();
}

// The deadline has passed.
inline bool expired(int64_t deadline_ns) {
  return std::chrono::steady_clock::now().time_since_epoch().count() > deadline_ns;
}

// This node's wall clock, Unix milliseconds: what write-behind expiries are
// judged by (write-through ones by PostgreSQL's clock).
inline int64_t unix_now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
           std::chrono::system_clock::now().time_since_epoch())
    .count();
}

// The deadline on this node's wall clock, Unix milliseconds: for a
// statement that checks it against PostgreSQL's clock.
inline int64_t unix_ms_of(int64_t deadline_ns) {
  auto left = std::chrono::nanoseconds(
    deadline_ns - std::chrono::steady_clock::now().time_since_epoch().count());
  return unix_now_ms() + std::chrono::duration_cast<std::chrono::milliseconds>(left).count();
}

// An expiry (Unix ms; -1 none) that has passed at `now_ms`.
inline bool expired_by(int64_t expires_ms, int64_t now_ms) {
  return expires_ms >= 0 && expires_ms <= now_ms;
}

}  // namespace wtcache
