// The write-behind commands of one shard, sent to Redis in arrival order
// with one script call in flight, so that a command waiting for its rows
// (INCR or DEL of a key the cache does not hold) is not overtaken by a later
// write to the same key. A call takes whole commands, up to max_ops
// operations (at least one command). Commands the script did not run go
// back to the front, in order; the first of them may be waiting for rows.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <vector>

#include "messages/cache_protocol.hpp"

namespace wtcache {

template <class Ticket>
class enqueue_line {
public:
  using time_point = std::chrono::steady_clock::time_point;
  struct command {
    std::vector<queued_write> ops;  // one client command; carries the rows loaded for it
    Ticket ticket;
    time_point received;
    time_point deadline;
    bool transaction = false;  // EXEC: its parts succeed or fail apart, in one call
  };
  struct next {
    std::vector<command> expired;  // to be told: waited past the deadline, not written
    std::vector<command> call;     // the next script call's commands; empty: none goes out
  };

  enqueue_line(std::size_t max_waiting, std::size_t max_ops)
    : max_waiting_(max_waiting), max_ops_(max_ops) {}

  // Queues a command; false (refused, nothing queued) when max_waiting wait.
  bool admit(command c) {
    if (waiting_.size() >= max_waiting_)
      return false;
    waiting_.push_back(std::move(c));
    return true;
  }
  std::size_t waiting() const { return waiting_.size(); }
  // admit() would refuse (checked first: taking a request takes over its reply).
  bool full() const { return waiting_.size() >= max_waiting_; }
  bool in_flight() const { return in_flight_; }

  // The next call, unless one is in flight (or the rows of the first
  // command are being read). A non-empty call is in flight until done().
  next take(time_point now) {
    next out;
    if (in_flight_)
      return out;
    std::size_t ops = 0;
    while (!waiting_.empty() &&
           (out.call.empty() || ops + waiting_.front().ops.size() <= max_ops_)) {
      auto c = std::move(waiting_.front());
      waiting_.pop_front();
      if (c.deadline < now) {
        out.expired.push_back(std::move(c));
        continue;
      }
      ops += c.ops.size();
      out.call.push_back(std::move(c));
    }
    in_flight_ = !out.call.empty();
    return out;
  }

  // The commands of the call in flight from `first` on did not run: back
  // to the front, in their order. The line stays in flight while the first
  // of them waits for its rows (take() sends nothing meanwhile).
  void put_back(std::vector<command>& call, std::size_t first) {
    for (auto i = call.size(); i > first; --i)
      waiting_.push_front(std::move(call[i - 1]));
  }
  // The command at the front: the one whose rows are being read.
  command& front() { return waiting_.front(); }
  // Takes the front command off the line (it failed on its own).
  command pop_front() {
    auto c = std::move(waiting_.front());
    waiting_.pop_front();
    return c;
  }

  // The call in flight (or the rows' read) is over.
  void done() { in_flight_ = false; }

private:
  std::size_t max_waiting_, max_ops_;
  std::deque<command> waiting_;
  bool in_flight_ = false;
};

}  // namespace wtcache
