// The circuit breaker: closed, open, half-open with one probe.
#include "core/breaker.hpp"

#include <algorithm>

namespace wtcache {

void circuit_breaker::configure(settings s) {
  std::lock_guard<std::mutex> lock(mutex_);
  cfg_ = s;
}

bool circuit_breaker::allow(time_point now) {
  std::lock_guard<std::mutex> lock(mutex_);
  switch (state_) {
    case state::closed:
      return true;
    case state::open:
      if (now < retry_at_)
        return false;
      state_ = state::half_open;
      probing_ = true;
      probe_given_up_at_ = now + cfg_.max_open_for;
      return true;
    case state::half_open:
      // A probe whose answer nobody reported is given up after a while, so
      // that one lost answer cannot keep the circuit open for good.
      if (probing_ && now < probe_given_up_at_)
        return false;
      probing_ = true;
      probe_given_up_at_ = now + cfg_.max_open_for;
      return true;
  }
  return true;
}

circuit_breaker::transition circuit_breaker::success(time_point now) {
  std::lock_guard<std::mutex> lock(mutex_);
  transition t;
  failures_ = 0;
  failed_probes_ = 0;
  if (state_ != state::closed) {
    t.closed = true;
    t.outage = std::chrono::duration_cast<std::chrono::milliseconds>(now - opened_at_);
    state_ = state::closed;
    probing_ = false;
  }
  return t;
}

circuit_breaker::transition circuit_breaker::failure(time_point now) {
  std::lock_guard<std::mutex> lock(mutex_);
  transition t;
  if (state_ == state::half_open) {
    // The probe failed: open again, for longer each time (backoff).
    state_ = state::open;
    probing_ = false;
    auto wait = cfg_.open_for * (1LL << std::min(++failed_probes_, 16u));
    retry_at_ = now + std::min<std::chrono::milliseconds>(wait, cfg_.max_open_for);
    return t;
  }
  if (state_ == state::open)
    return t;  // an answer to a request sent before it opened
  if (++failures_ >= cfg_.failures_to_open) {
    state_ = state::open;
    opened_at_ = now;
    retry_at_ = now + cfg_.open_for;
    ++times_opened_;
    t.opened = true;
  }
  return t;
}

circuit_breaker::state circuit_breaker::current(time_point now) const {
  std::lock_guard<std::mutex> lock(mutex_);
  if (state_ == state::open && now >= retry_at_)
    return state::half_open;  // the next request is the probe
  return state_;
}

const char* circuit_breaker::name(state s) {
  switch (s) {
    case state::closed: return "closed";
    case state::open: return "open";
    case state::half_open: return "half-open";
  }
  return "?";
}

uint64_t circuit_breaker::times_opened() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return times_opened_;
}

}  // namespace wtcache
