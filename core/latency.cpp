// The statistics: latency histograms and the per-command and per-namespace figures.
#include "core/latency.hpp"

#include <algorithm>
#include <cctype>

#include "core/commands.hpp"

namespace wtcache {

int latency_histogram::index_of(uint64_t us) {
  if (us < sub)
    return static_cast<int>(us);
  int msb = 63 - __builtin_clzll(us);        // >= 3
  int shift = msb - 3;                        // keep 3 bits below the msb
  int mant = static_cast<int>((us >> shift) & (sub - 1));
  return std::min(buckets - 1, (msb - 2) * sub + mant);
}

uint64_t latency_histogram::upper_of(int index) {
  if (index < sub)
    return static_cast<uint64_t>(index);
  int msb = index / sub + 2;
  int mant = index % sub;
  int shift = msb - 3;
  return ((static_cast<uint64_t>(sub + mant) + 1) << shift) - 1;
}

void latency_histogram::record(std::chrono::microseconds d) {
  auto us = static_cast<uint64_t>(std::max<int64_t>(0, d.count()));
  counts_[index_of(us)].fetch_add(1, std::memory_order_relaxed);
}

uint64_t latency_histogram::count() const {
  uint64_t n = 0;
  for (auto& c : counts_)
    n += c.load(std::memory_order_relaxed);
  return n;
}

std::chrono::microseconds latency_histogram::percentile(double q) const {
  uint64_t total = count();
  if (total == 0)
    return std::chrono::microseconds{0};
  auto rank = static_cast<uint64_t>(q * static_cast<double>(total - 1)) + 1;
  uint64_t seen = 0;
  for (int i = 0; i < buckets; ++i) {
    seen += counts_[i].load(std::memory_order_relaxed);
    if (seen >= rank)
      return std::chrono::microseconds{static_cast<int64_t>(upper_of(i))};
  }
  return std::chrono::microseconds{static_cast<int64_t>(upper_of(buckets - 1))};
}

void latency_histogram::merge_into(latency_histogram& other) const {
  for (int i = 0; i < buckets; ++i)
    other.counts_[i].fetch_add(counts_[i].load(std::memory_order_relaxed),
                               std::memory_order_relaxed);
}

void bucket_histogram::observe(std::chrono::nanoseconds d) {
  auto ns = std::max<int64_t>(0, d.count());
  double seconds = static_cast<double>(ns) / 1e9;
  std::size_t i = 0;
  while (i < bounds.size() && seconds > bounds[i])
    ++i;
  counts_[i].fetch_add(1, std::memory_order_relaxed);
  sum_ns_.fetch_add(static_cast<uint64_t>(ns), std::memory_order_relaxed);
}

std::array<uint64_t, bucket_histogram::bounds.size() + 1> bucket_histogram::counts() const {
  std::array<uint64_t, bounds.size() + 1> out{};
  for (std::size_t i = 0; i < out.size(); ++i)
    out[i] = counts_[i].load(std::memory_order_relaxed);
  return out;
}

double bucket_histogram::sum_seconds() const {
  return static_cast<double>(sum_ns_.load(std::memory_order_relaxed)) / 1e9;
}

uint64_t bucket_histogram::count() const {
  uint64_t n = 0;
  for (auto& c : counts_)
    n += c.load(std::memory_order_relaxed);
  return n;
}

double bucket_histogram::quantile(double q) const {
  auto c = counts();
  uint64_t total = 0;
  for (auto n : c)
    total += n;
  if (total == 0)
    return 0;
  double rank = q * static_cast<double>(total);
  uint64_t below = 0;
  for (std::size_t i = 0; i < c.size(); ++i) {
    if (static_cast<double>(below + c[i]) >= rank && c[i] > 0) {
      if (i == bounds.size())
        return bounds.back();  // in +Inf: the highest finite bound, as Prometheus does
      double lower = i == 0 ? 0 : bounds[i - 1];
      return lower + (bounds[i] - lower) * (rank - static_cast<double>(below)) /
                       static_cast<double>(c[i]);
    }
    below += c[i];
  }
  return bounds.back();
}

service_metrics::service_metrics() {
  for (auto& name : supported_commands()) {
    std::string lower = name;
    std::transform(lower.begin(), lower.end(), lower.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    commands_by_name.emplace_back(lower);
  }
  commands_by_name.emplace_back("other");
}

void service_metrics::set_namespaces(const std::vector<std::string>& tables) {
  namespaces.clear();
  for (auto& t : tables)
    namespaces.emplace_back(t);
}

command_metrics& service_metrics::command(const std::string& name) {
  // A handful of names: a linear scan of short strings beats hashing here.
  for (auto& c : commands_by_name) {
    if (c.name.size() != name.size())
      continue;
    bool same = true;
    for (std::size_t i = 0; i < name.size() && same; ++i)
      same = std::tolower(static_cast<unsigned char>(name[i])) == c.name[i];
    if (same)
      return c;
  }
  return commands_by_name.back();
}

void service_metrics::hit(std::size_t ns) {
  hits.fetch_add(1, std::memory_order_relaxed);
  if (ns < namespaces.size())
    namespaces[ns].hits.fetch_add(1, std::memory_order_relaxed);
}

void service_metrics::miss(std::size_t ns) {
  misses.fetch_add(1, std::memory_order_relaxed);
  if (ns < namespaces.size())
    namespaces[ns].misses.fetch_add(1, std::memory_order_relaxed);
}

}  // namespace wtcache
