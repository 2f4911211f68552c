// The benchmark's HTML report: gnuplot's SVG charts and the table, in one file.
#include "bench/report.hpp"

#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>

#include <cstdio>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

namespace wtcache::bench {

namespace {

std::string html_escaped(const std::string& s) {
  std::string out;
  for (char c : s) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      default: out += c;
    }
  }
  return out;
}

// Runs gnuplot on `script`; its standard output (the SVG) into `svg`.
bool gnuplot(const std::string& script, std::string& svg, std::string& error) {
  char path[] = "/tmp/wtcache-plot-XXXXXX";
  int fd = ::mkstemp(path);
  if (fd < 0) {
    error = "cannot create a temporary file";
    return false;
  }
  ::close(fd);
  std::ofstream(path) << script;
  auto* p = ::popen(("gnuplot " + std::string(path) + " 2>&1").c_str(), "r");
  if (!p) {
    ::unlink(path);
    error = "cannot run gnuplot";
    return false;
  }
  svg.clear();
  char buf[8192];
  std::size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, p)) > 0)
    svg.append(buf, n);
  int status = ::pclose(p);
  ::unlink(path);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0 || svg.find("<svg") == std::string::npos) {
    error = WIFEXITED(status) && WEXITSTATUS(status) == 127
              ? "gnuplot is not installed (Debian: gnuplot-nox)"
              : "gnuplot failed: " + svg.substr(0, 300);
    return false;
  }
  // The XML declaration and doctype are not wanted inside HTML.
  auto at = svg.find("<svg");
  svg.erase(0, at);
  return true;
}

// One data block per phase ($<name>0, $<name>1, ...): "clients value" rows,
// for gnuplot's inline data.
std::string data_blocks(const std::vector<phase_result>& results,
                        const std::vector<std::string>& phases,
                        double phase_result::*field, const char* name) {
  std::string out;
  for (std::size_t i = 0; i < phases.size(); ++i) {
    out += "$" + std::string(name) + std::to_string(i) + " << EOD\n";
    for (auto& r : results)
      if (r.phase == phases[i])
        out += std::to_string(r.clients) + " " + std::to_string(r.*field) + "\n";
    out += "EOD\n";
  }
  return out;
}

std::string header(const std::string& title, const std::string& ylabel, bool log_y) {
  std::string s =
    "set terminal svg size 900,460 dynamic enhanced font 'sans,11' background '#ffffff'\n"
    "set title '" + title + "'\n"
    "set xlabel 'concurrent clients'\nset ylabel '" + ylabel + "'\n"
    "set key outside right top\nset grid\nset logscale x 2\n"
    "set style data linespoints\n";
  if (log_y)
    s += "set logscale y 10\n";
  return s;
}

}  // namespace

bool write_html_report(const std::vector<phase_result>& results, const report_info& info,
                       const std::string& path, std::string& error) {
  std::vector<std::string> phases;
  for (auto& r : results)
    if (std::find(phases.begin(), phases.end(), r.phase) == phases.end())
      phases.push_back(r.phase);
  auto quoted = [](const std::string& s) { return "'" + s + "'"; };

  std::string throughput = header("Throughput", "operations per second", true) +
                           data_blocks(results, phases, &phase_result::ops_per_s, "d") + "plot ";
  for (std::size_t i = 0; i < phases.size(); ++i)
    throughput += std::string(i ? ", " : "") + "$d" + std::to_string(i) + " using 1:2 title " +
                  quoted(phases[i]) + " lw 2";
  throughput += "\n";

  std::string latency = header("Latency: p50 (solid) and p99 (dashed)", "milliseconds", true) +
                        data_blocks(results, phases, &phase_result::p50_ms, "d") +
                        data_blocks(results, phases, &phase_result::p99_ms, "e") + "plot ";
  for (std::size_t i = 0; i < phases.size(); ++i)
    latency += std::string(i ? ", " : "") + "$d" + std::to_string(i) + " using 1:2 title " +
               quoted(phases[i] + " p50") + " lw 2 lc " + std::to_string(i + 1) + " dt 1, $e" +
               std::to_string(i) + " using 1:2 title " + quoted(phases[i] + " p99") +
               " lw 1 lc " + std::to_string(i + 1) + " dt 2";
  latency += "\n";

  std::string svg_throughput, svg_latency;
  if (!gnuplot(throughput, svg_throughput, error) || !gnuplot(latency, svg_latency, error))
    return false;

  std::ostringstream page;
  page << "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n"
       << "<title>wtcache benchmark</title>\n<style>\n"
       << "body{font-family:sans-serif;margin:2em;max-width:1000px;color:#222}\n"
       << "table{border-collapse:collapse;font-size:14px}td,th{border:1px solid #ccc;"
          "padding:3px 8px;text-align:right}th{background:#f4f4f4}td:first-child{text-align:left}\n"
       << "figure{margin:1em 0}\n</style></head><body>\n"
       << "<h1>wtcache benchmark</h1>\n<p>" << html_escaped(info.title) << "</p>\n<p>"
       << html_escaped(info.machine) << "</p>\n";
  if (!info.notes.empty()) {
    page << "<ul>\n";
    for (auto& n : info.notes)
      page << "<li>" << html_escaped(n) << "</li>\n";
    page << "</ul>\n";
  }
  page << "<figure>" << svg_throughput << "</figure>\n<figure>" << svg_latency << "</figure>\n";
  page << "<table><tr><th>phase</th><th>clients</th><th>ops/s</th><th>p50 ms</th><th>p99 ms</th>"
          "<th>ops</th><th>errors</th><th>wtcached CPU &micro;s/op</th><th>Redis</th>"
          "<th>PostgreSQL</th><th>load generator</th><th>machine</th><th>machine busy</th></tr>\n";
  char buf[512];
  for (auto& r : results) {
    std::snprintf(buf, sizeof buf,
                  "<tr><td>%s</td><td>%d</td><td>%.0f</td><td>%.3f</td><td>%.3f</td><td>%llu</td>"
                  "<td>%llu</td><td>",
                  html_escaped(r.phase).c_str(), r.clients, r.ops_per_s, r.p50_ms, r.p99_ms, r.ops,
                  r.errors);
    page << buf;
    if (r.cpu_us_per_op >= 0) {
      std::snprintf(buf, sizeof buf, "%.1f", r.cpu_us_per_op);
      page << buf;
    }
    page << "</td>";
    for (double us : {r.redis_us_per_op, r.postgres_us_per_op, r.load_us_per_op,
                      r.machine_us_per_op}) {
      page << "<td>";
      if (us >= 0) {
        std::snprintf(buf, sizeof buf, "%.1f", us);
        page << buf;
      }
      page << "</td>";
    }
    page << "<td>";
    if (r.machine_busy_pct >= 0) {
      std::snprintf(buf, sizeof buf, "%.0f %%", r.machine_busy_pct);
      page << buf;
    }
    page << "</td></tr>\n";
  }
  page << "</table>\n</body></html>\n";
  std::ofstream out(path);
  out << page.str();
  if (!out) {
    error = "cannot write " + path;
    return false;
  }
  return true;
}

}  // namespace wtcache::bench
