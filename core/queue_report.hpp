// What the write-behind queues hold when a stop stops waiting for them, and
// the one log line that says so. The figures are what Redis answered at that
// moment (XLEN and XPENDING of each stream), so the line an operator reads
// before retiring a Redis is never built from a flag or a cached counter.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace wtcache {

// One stream, as Redis described it.
struct stream_report {
  std::string stream;    // its key, or what a writer's share of streams is called
  int64_t streams = 1;   // how many streams the figures are of
  int64_t length = -1;   // XLEN: entries not in PostgreSQL yet (persisted ones are deleted)
  int64_t pending = -1;  // XPENDING: of those, delivered to a writer and not acknowledged
  bool owned = false;    // this node's writer held the stream's lock when it answered
  std::string error;     // non-empty: Redis could not be asked; the figures are unknown
};

struct drain_summary {
  bool drained = false;  // every stream answered, and each is empty
  bool known = false;    // every stream answered
  int64_t left = 0;      // entries the answering streams still hold
  std::string line;      // what the stop logs
};

// "write-behind queues drained into PostgreSQL: ..." only when every stream
// answered XLEN 0 and XPENDING 0; otherwise which streams hold how many
// entries, and which could not be asked and why (a figure below zero is
// unknown too).
drain_summary summarize_drain(const std::vector<stream_report>& streams);

}  // namespace wtcache
