// The connection's read size: larger while reads come back full, 4 KiB again after.
#include <gtest/gtest.h>

#include "actors/connection.hpp"

using wtcache::read_size_after;

TEST(ReadSize, GrowsFourfoldWhileReadsComeBackFull) {
  EXPECT_EQ(read_size_after(4 * 1024, 4 * 1024), 16u * 1024);
  EXPECT_EQ(read_size_after(16 * 1024, 16 * 1024), 64u * 1024);
}

TEST(ReadSize, StopsAtSixtyFourKibibytes) {
  EXPECT_EQ(read_size_after(64 * 1024, 64 * 1024), 64u * 1024);
}

TEST(ReadSize, StaysSmallForSmallReads) {
  EXPECT_EQ(read_size_after(4 * 1024, 30), 4u * 1024);
  EXPECT_EQ(read_size_after(4 * 1024, 4 * 1024 - 1), 4u * 1024);
}

TEST(ReadSize, DropsBackOnceAReadIsNotFull) {
  EXPECT_EQ(read_size_after(64 * 1024, 40 * 1024), 4u * 1024);  // a large value's tail
  EXPECT_EQ(read_size_after(64 * 1024, 30), 4u * 1024);
}
