// A history of client operations against one or more wtcached nodes, and the
// checker that judges it against the promises in DESIGN.md. Reusable: any
// test that drives clients (fault injection, a cluster) records into a
// `history` and calls `check`.
//
// Values written must be unique per key (e.g. "c3-17": client 3, write 17),
// so that a read or a final row names the one write it came from.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

namespace wtcache::test {

enum class outcome { ok, failed, unknown };

struct operation {
  enum kind_t { write, read } kind = write;
  std::string key;
  std::string value;  // write: what was written; read: what came back
  bool found = true;  // read: false for nil
  outcome result = outcome::ok;
  std::chrono::steady_clock::time_point invoked, completed;
};

class history {
public:
  // Thread-safe.
  void add(operation op);
  std::vector<operation> operations() const;

private:
  mutable std::mutex mutex_;
  std::vector<operation> ops_;
};

struct check_result {
  uint64_t writes_ok = 0, writes_failed = 0, writes_unknown = 0;
  uint64_t reads_checked = 0, stale_reads = 0, reads_of_failed_writes = 0;
  uint64_t keys_checked = 0, lost_writes = 0;
  std::vector<std::string> problems;  // the first few, readable

  bool ok() const { return stale_reads == 0 && reads_of_failed_writes == 0 && lost_writes == 0; }
  std::string summary() const;
};

// Classifies an error reply: "outcome unknown" (and a connection lost
// mid-request) is unknown; any other error means nothing changed.
outcome outcome_of_error(const std::string& error_text);

// Judges the history and the final state. `final_rows` maps each key to its
// value in PostgreSQL after quiescence (absent: no row).
//  1. Every key's final row is a write that was acknowledged or whose outcome
//     is unknown, and no acknowledged write invoked after it completed
//     supersedes it (so the last acknowledged write, or a later unknown one).
//  2. No read returned a value older than the newest write acknowledged before
//     the read was sent, nor a value from a write that failed.
check_result check(const std::vector<operation>& ops,
                   const std::map<std::string, std::optional<std::string>>& final_rows);

}  // namespace wtcache::test
