// The benchmark's report for people: one self-contained HTML file with the
// run's table and two charts (throughput, and p50/p99 latency, against the
// number of clients, for each phase: the service's write-through and
// write-behind SET and its cache-hit GET, beside the direct PostgreSQL and
// Redis baselines). gnuplot draws the charts as SVG, inlined in the page.
#pragma once

#include <string>
#include <vector>

namespace wtcache::bench {

struct phase_result {
  std::string phase;
  int clients = 0;
  double ops_per_s = 0;
  double p50_ms = 0, p99_ms = 0;
  unsigned long long ops = 0, errors = 0;
  // CPU time (user + system) per op, in microseconds; -1: not measured.
  double cpu_us_per_op = -1;       // wtcached's
  double redis_us_per_op = -1;     // its Redis's
  double postgres_us_per_op = -1;  // its PostgreSQL's, every process
  double load_us_per_op = -1;      // the load generator's (the clients)
  double machine_us_per_op = -1;   // the whole machine's, every process
  double machine_busy_pct = -1;    // of all cores, over the phase
};

struct report_info {
  std::string title;     // what ran, one line
  std::string machine;   // cores, memory, kernel
  std::vector<std::string> notes;  // e.g. the targets and whether they were met
};

// Writes the page; false with `error` set if it cannot (no gnuplot, say).
bool write_html_report(const std::vector<phase_result>& results, const report_info& info,
                       const std::string& path, std::string& error);

}  // namespace wtcache::bench
