// core/rerun.hpp: a step that asks for itself while it runs is run again
// in a loop, never one call deeper.
#include <algorithm>
#include <functional>

#include <gtest/gtest.h>

#include "core/rerun.hpp"

using namespace wtcache;

TEST(Rerun, AStepThatAsksForItselfRunsAgainInALoopNotDeeper) {
  rerun guard;
  int runs = 0, depth = 0, deepest = 0;
  std::function<void()> step = [&] {
    ++depth;
    deepest = std::max(deepest, depth);
    if (++runs < 1000)
      guard(step);  // as a command that ends at once calls for the next
    --depth;
  };
  guard(step);
  EXPECT_EQ(runs, 1000);
  EXPECT_EQ(deepest, 1);
}

TEST(Rerun, AStepThatAsksForNothingRunsOnce) {
  rerun guard;
  int runs = 0;
  guard([&] { ++runs; });
  guard([&] { ++runs; });
  EXPECT_EQ(runs, 2);
}
