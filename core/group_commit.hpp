// Group commit, one shard's: at most one write transaction in flight; the
// writes that arrive meanwhile wait and form the next batch when it is
// answered, or as soon as it has committed (committed()): its cache update
// and answer then overlap the next transaction. A batch takes whole commands, up to max_ops operations (always
// at least one command, however large). A write whose deadline passed while
// it waited is taken out before it runs, so "nothing was written" stays
// true for it. The transaction in flight is watched by one timer: past its
// give-up time it is failed, and an answer that comes later is recognised
// by its number and ignored.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <vector>

#include "core/namespaces.hpp"
#include "messages/shard_protocol.hpp"
#include "messages/store_protocol.hpp"

namespace wtcache {

template <class Ticket>
class group_commit {
public:
  using time_point = std::chrono::steady_clock::time_point;
  struct pending {
    write_request request;
    Ticket ticket;
    time_point received;
    time_point deadline;  // the client's
  };
  struct next {
    std::vector<pending> expired;  // to be told: waited past the deadline, not written
    std::vector<pending> batch;    // the next transaction's commands; empty: none goes out
  };

  group_commit(std::size_t max_waiting, std::size_t max_ops)
    : max_waiting_(max_waiting), max_ops_(max_ops) {}

  // Queues a command; false (refused, nothing queued) when max_waiting wait.
  bool admit(write_request request, Ticket ticket, time_point now, time_point deadline) {
    if (waiting_.size() >= max_waiting_)
      return false;
    arrived_in_flight_ = arrived_in_flight_ || in_flight_;
    waiting_.push_back({std::move(request), std::move(ticket), now, deadline});
    return true;
  }
  std::size_t waiting() const { return waiting_.size(); }
  // admit() would refuse (checked first: taking a request takes over its reply).
  bool full() const { return waiting_.size() >= max_waiting_; }
  bool in_flight() const { return in_flight_; }

  // The next batch, unless a transaction is in flight. A non-empty batch is
  // in flight from now until done().
  next take(time_point now) {
    next out;
    if (in_flight_)
      return out;
    std::deque<pending> live;
    for (auto& w : waiting_) {
      if (w.deadline < now)
        out.expired.push_back(std::move(w));
      else
        live.push_back(std::move(w));
    }
    waiting_.swap(live);
    std::size_t ops = 0;
    // An EXEC goes alone: its WATCH may roll the whole transaction back.
    while (!waiting_.empty() &&
           (out.batch.empty() || (ops + waiting_.front().request.writes.size() <= max_ops_ &&
                                  !waiting_.front().request.transaction &&
                                  !out.batch.front().request.transaction))) {
      ops += waiting_.front().request.writes.size();
      out.batch.push_back(std::move(waiting_.front()));
      waiting_.pop_front();
    }
    in_flight_ = !out.batch.empty();
    if (in_flight_) {
      overlapping_ = arrived_in_flight_;
      arrived_in_flight_ = false;
    }
    return out;
  }

  // Whether writes came while the previous transaction was in flight: then
  // the batch just taken is worth releasing at its COMMIT (committed()),
  // for others will most likely be waiting by then. A lone client's next
  // write comes only after its answer, and the early word would only cost
  // the worker a wake-up of the shard's thread.
  bool overlapping() const { return overlapping_; }

  // Starts watching the batch just taken: it is given up on at `give_up`.
  // Returns its number, and whether the timer must be armed (for `give_up`).
  std::pair<uint64_t, bool> watch(time_point give_up) {
    give_up_ = give_up;
    watching_ = true;
    bool arm = !timer_armed_;
    timer_armed_ = true;
    return {++number_, arm};
  }
  // The answer of batch `number` came: true when it is the one in flight
  // and not given up on (then it is no longer watched).
  bool answered(uint64_t number) {
    if (number != number_ || !watching_)
      return false;
    watching_ = false;
    return true;
  }
  enum class timer { idle, give_up, rearm };
  // The timer fired at `now`: give up on the batch in flight, arm the timer
  // again for a later batch's give-up time (`rearm_at`), or nothing.
  timer fired(time_point now, time_point& rearm_at) {
    timer_armed_ = false;
    if (!watching_)
      return timer::idle;
    if (now < give_up_) {
      timer_armed_ = true;
      rearm_at = give_up_;
      return timer::rearm;
    }
    watching_ = false;
    return timer::give_up;
  }

  // The transaction in flight was answered or given up on.
  void done() { in_flight_ = false; }

  // Transaction `number` has committed; its answer is still to come. True
  // when it is the one in flight and not given up on: it is no longer in
  // flight or watched, and the next batch may go (its answer then needs
  // neither answered() nor done()).
  bool committed(uint64_t number) {
    if (number != number_ || !watching_)
      return false;
    watching_ = false;
    in_flight_ = false;
    return true;
  }

private:
  std::size_t max_waiting_, max_ops_;
  std::deque<pending> waiting_;
  bool in_flight_ = false;
  bool arrived_in_flight_ = false, overlapping_ = false;
  uint64_t number_ = 0;
  bool watching_ = false;
  bool timer_armed_ = false;
  time_point give_up_{};
};

// A batch as the PostgreSQL worker runs it: each command's writes in order,
// the ops of one command sharing a group (they succeed or fail together).
struct transaction_plan {
  std::vector<store_op> ops;
  std::vector<std::string> keys;  // the client key of each op
};

// The values move into the plan (the requests need them no more).
template <class Pending>
transaction_plan plan_transaction(std::vector<Pending>& batch, const namespace_table& spaces) {
  transaction_plan plan;
  uint32_t group = 0;
  for (auto& w : batch) {
    uint32_t part = w.request.writes.empty() ? 0 : w.request.writes.front().part;
    for (auto& kw : w.request.writes) {
      if (kw.part != part) {  // EXEC: each queued command is a group of its own
        part = kw.part;
        ++group;
      }
      auto match = spaces.resolve(kw.key);
      store_op op;
      op.kind = kw.kind;
      op.ns = static_cast<uint32_t>(match.index);
      op.id = std::string(match.id);
      op.value = std::move(kw.value);
      op.delta = kw.delta;
      op.group = group;
      op.flags = kw.flags;
      op.expiry = kw.expiry;
      op.expiry_ms = kw.expiry_ms;
      plan.ops.push_back(std::move(op));
      plan.keys.push_back(kw.key);
    }
    ++group;
  }
  return plan;
}

}  // namespace wtcache
