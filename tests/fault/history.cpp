// The history checker: acknowledged writes, reads and final state against the promises.
#include "tests/fault/history.hpp"

#include <algorithm>
#include <sstream>

namespace wtcache::test {

void history::add(operation op) {
  std::lock_guard<std::mutex> lock(mutex_);
  ops_.push_back(std::move(op));
}

std::vector<operation> history::operations() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return ops_;
}

outcome outcome_of_error(const std::string& text) {
  if (text.find("outcome unknown") != std::string::npos || text.find("connection") == 0)
    return outcome::unknown;
  return outcome::failed;
}

std::string check_result::summary() const {
  std::ostringstream s;
  s << "writes acknowledged " << writes_ok << ", failed " << writes_failed << ", unknown "
    << writes_unknown << "; reads checked " << reads_checked << ", stale " << stale_reads
    << ", of failed writes " << reads_of_failed_writes << "; keys checked " << keys_checked
    << ", lost acknowledged writes " << lost_writes;
  return s.str();
}

namespace {

using time_point = std::chrono::steady_clock::time_point;

struct key_writes {
  std::vector<const operation*> acked;             // sorted by completion
  std::map<std::string, const operation*> by_value;  // every write of the key
};

// Some acknowledged write to the key was invoked after `w` completed and
// completed before `before`: `w` is older than a write acknowledged by then.
bool superseded(const key_writes& kw, const operation& w, time_point before) {
  for (auto* a : kw.acked) {
    if (a->completed >= before)
      break;
    if (a != &w && a->invoked > w.completed)
      return true;
  }
  return false;
}

}  // namespace

check_result check(const std::vector<operation>& ops,
                   const std::map<std::string, std::optional<std::string>>& final_rows) {
  check_result r;
  std::map<std::string, key_writes> keys;
  for (auto& op : ops) {
    if (op.kind != operation::write)
      continue;
    auto& kw = keys[op.key];
    kw.by_value[op.value] = &op;
    switch (op.result) {
      case outcome::ok: ++r.writes_ok; kw.acked.push_back(&op); break;
      case outcome::failed: ++r.writes_failed; break;
      case outcome::unknown: ++r.writes_unknown; break;
    }
  }
  for (auto& [key, kw] : keys)
    std::sort(kw.acked.begin(), kw.acked.end(),
              [](auto* a, auto* b) { return a->completed < b->completed; });
  auto problem = [&](const std::string& text) {
    if (r.problems.size() < 10)
      r.problems.push_back(text);
  };

  for (auto& op : ops) {
    if (op.kind != operation::read || op.result != outcome::ok)
      continue;
    ++r.reads_checked;
    auto& kw = keys[op.key];
    if (!op.found) {
      // Nothing is ever deleted by these workloads: nil is stale once any
      // write to the key was acknowledged before the read was sent.
      if (!kw.acked.empty() && kw.acked.front()->completed < op.invoked) {
        ++r.stale_reads;
        problem("GET " + op.key + " returned nil after a write was acknowledged");
      }
      continue;
    }
    auto it = kw.by_value.find(op.value);
    if (it == kw.by_value.end()) {
      ++r.stale_reads;
      problem("GET " + op.key + " returned \"" + op.value + "\", which no client wrote");
      continue;
    }
    auto& w = *it->second;
    if (w.result == outcome::failed) {
      ++r.reads_of_failed_writes;
      problem("GET " + op.key + " returned \"" + op.value + "\" from a write that failed");
    } else if (superseded(kw, w, op.invoked)) {
      ++r.stale_reads;
      problem("GET " + op.key + " returned \"" + op.value +
              "\" after a newer write had been acknowledged");
    }
  }

  for (auto& [key, kw] : keys) {
    if (kw.acked.empty())
      continue;  // nothing was promised
    ++r.keys_checked;
    auto row = final_rows.find(key);
    if (row == final_rows.end() || !row->second) {
      ++r.lost_writes;
      problem(key + ": no row, but writes were acknowledged");
      continue;
    }
    auto it = kw.by_value.find(*row->second);
    auto end = std::chrono::steady_clock::time_point::max();
    if (it == kw.by_value.end() || it->second->result == outcome::failed ||
        superseded(kw, *it->second, end)) {
      ++r.lost_writes;
      problem(key + ": the row holds \"" + *row->second +
              "\", not the last acknowledged write (or a later unknown one)");
    }
  }
  return r;
}

}  // namespace wtcache::test
