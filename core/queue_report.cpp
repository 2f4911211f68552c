// The stop's line about the write-behind queues, from what Redis said of each stream.
#include "core/queue_report.hpp"

namespace wtcache {

namespace {

std::string entries(int64_t n) {
  return std::to_string(n) + (n == 1 ? " entry" : " entries");
}

}  // namespace

drain_summary summarize_drain(const std::vector<stream_report>& streams) {
  drain_summary out;
  out.known = true;
  std::string held, unknown;
  for (auto& s : streams) {
    if (!s.error.empty() || s.length < 0 || s.pending < 0) {
      out.known = false;
      unknown += (unknown.empty() ? "" : "; ") + s.stream + ": " +
                 (s.error.empty() ? std::string("Redis gave no figures") : s.error);
      continue;
    }
    if (s.length == 0 && s.pending == 0)
      continue;
    out.left += s.length;
    held += (held.empty() ? "" : "; ") + s.stream + " holds " + std::to_string(s.length) + " (" +
            std::to_string(s.pending) + " pending" +
            (s.owned ? "" : "; its writer here did not hold the stream's lock") + ")";
  }
  out.drained = out.known && held.empty();
  int64_t total = 0;
  for (auto& s : streams)
    total += s.streams;
  auto count = std::to_string(total) + (total == 1 ? " stream" : " streams") + " of " +
               std::to_string(streams.size()) + (streams.size() == 1 ? " writer" : " writers");
  if (out.drained) {
    out.line = "write-behind queues drained into PostgreSQL: " + count + ", each empty in Redis";
    return out;
  }
  if (!held.empty())
    out.line = "write-behind: " + entries(out.left) +
               " still queued when the grace period ended (" + held + ")";
  if (!unknown.empty())
    out.line += (out.line.empty() ? "write-behind: " : "; ") +
                std::string("cannot tell what is left of ") + unknown;
  out.line += "; what is queued stays in Redis and drains at the next start";
  return out;
}

}  // namespace wtcache
