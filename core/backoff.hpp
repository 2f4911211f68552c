// The one retry/backoff rule (Akka's BackoffSupervisor):
// delay(n) = min(max, min * 2^n) * (1 + random * factor), random in [0, 1).
#pragma once

#include <algorithm>
#include <chrono>
#include <random>

namespace wtcache {

struct backoff_policy {
  std::chrono::milliseconds min{100};
  std::chrono::milliseconds max{10000};
  double random_factor = 0.2;

  // `attempt` counts from 0; `unit_random` is a draw from [0, 1).
  std::chrono::milliseconds delay(unsigned attempt, double unit_random) const {
    double base = static_cast<double>(min.count());
    for (unsigned i = 0; i < attempt && base < static_cast<double>(max.count()); ++i)
      base *= 2;
    base = std::min(base, static_cast<double>(max.count()));
    return std::chrono::milliseconds(static_cast<long long>(base * (1.0 + unit_random * random_factor)));
  }

  template <class Rng>
  std::chrono::milliseconds delay(unsigned attempt, Rng& rng) const {
    return delay(attempt, std::uniform_real_distribution<double>(0.0, 1.0)(rng));
  }
};

}  // namespace wtcache
