// The connection's read size: larger while reads come back full, 16 KiB again after.
#include <gtest/gtest.h>

#include "actors/connection.hpp"

using wtcache::read_size_after;

TEST(ReadSize, GrowsWhileReadsComeBackFull) {
  EXPECT_EQ(read_size_after(16 * 1024, 16 * 1024), 64u * 1024);
}

TEST(ReadSize, StopsAtSixtyFourKibibytes) {
  EXPECT_EQ(read_size_after(64 * 1024, 64 * 1024), 64u * 1024);
}

TEST(ReadSize, StaysSmallForSmallReads) {
  EXPECT_EQ(read_size_after(16 * 1024, 30), 16u * 1024);
  EXPECT_EQ(read_size_after(16 * 1024, 16 * 1024 - 1), 16u * 1024);
}

TEST(ReadSize, DropsBackOnceAReadIsNotFull) {
  EXPECT_EQ(read_size_after(64 * 1024, 40 * 1024), 16u * 1024);  // a large value's tail
  EXPECT_EQ(read_size_after(64 * 1024, 30), 16u * 1024);
}
