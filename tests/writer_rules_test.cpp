// The write-behind writer's pure rules: which groups a writer drains, and
// how often an idle one on a Redis Cluster looks for work.
#include "actors/write_behind_writer.hpp"

#include <set>

#include <gtest/gtest.h>

namespace wtcache {
namespace {

TEST(WriterRules, EveryGroupHasExactlyOneWriter) {
  for (std::size_t writers : {1u, 2u, 3u, 7u, 64u}) {
    std::multiset<std::size_t> seen;
    for (std::size_t w = 0; w < writers; ++w)
      for (auto g : groups_of_writer(w, writers, 256))
        seen.insert(g);
    ASSERT_EQ(seen.size(), 256u) << writers;
    for (std::size_t g = 0; g < 256; ++g)
      EXPECT_EQ(seen.count(g), 1u) << writers << " writers, group " << g;
  }
  EXPECT_EQ(groups_of_writer(2, 3, 256).size(), 85u);
  EXPECT_EQ(groups_of_writer(0, 3, 256).size(), 86u);
}

TEST(WriterRules, AnIdleWriterOnAClusterBacksOffToAQuarterSecond) {
  using std::chrono::milliseconds;
  EXPECT_EQ(idle_delay(milliseconds(50), 0), milliseconds(25));
  EXPECT_EQ(idle_delay(milliseconds(50), 1), milliseconds(50));
  EXPECT_EQ(idle_delay(milliseconds(50), 3), milliseconds(200));
  EXPECT_EQ(idle_delay(milliseconds(50), 4), milliseconds(250));
  EXPECT_EQ(idle_delay(milliseconds(50), 1000), milliseconds(250));
  EXPECT_EQ(idle_delay(milliseconds(60000), 0), milliseconds(50));
  EXPECT_EQ(idle_delay(milliseconds(1), 0), milliseconds(1));
}

}  // namespace
}  // namespace wtcache
