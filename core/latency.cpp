#include "core/latency.hpp"

#include <algorithm>

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

}  // namespace wtcache
