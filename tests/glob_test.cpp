// Glob patterns as KEYS and SCAN MATCH read them.
#include <gtest/gtest.h>

#include "core/glob.hpp"

using namespace wtcache;

TEST(Glob, StarsQuestionMarksAndSets) {
  EXPECT_TRUE(glob_match("*", ""));
  EXPECT_TRUE(glob_match("*", "anything"));
  EXPECT_TRUE(glob_match("session:*", "session:42"));
  EXPECT_FALSE(glob_match("session:*", "sessions"));
  EXPECT_TRUE(glob_match("h?llo", "hello"));
  EXPECT_FALSE(glob_match("h?llo", "hllo"));
  EXPECT_TRUE(glob_match("h*llo", "hllo"));
  EXPECT_TRUE(glob_match("h*llo", "heeeello"));
  EXPECT_TRUE(glob_match("h[ae]llo", "hallo"));
  EXPECT_FALSE(glob_match("h[ae]llo", "hillo"));
  EXPECT_TRUE(glob_match("h[^e]llo", "hallo"));
  EXPECT_FALSE(glob_match("h[^e]llo", "hello"));
  EXPECT_TRUE(glob_match("h[a-b]llo", "hbllo"));
  EXPECT_TRUE(glob_match("h[b-a]llo", "hallo"));  // a reversed range still counts
  EXPECT_TRUE(glob_match("a*b*c", "axxbyyc"));
  EXPECT_FALSE(glob_match("a*b*c", "axxbyy"));
  EXPECT_TRUE(glob_match("*a*a*a*b", "aaaaaaaaaaaaaaaaaab"));
}

TEST(Glob, EscapesMatchTheCharacterItself) {
  EXPECT_TRUE(glob_match("a\\*b", "a*b"));
  EXPECT_FALSE(glob_match("a\\*b", "axb"));
  EXPECT_TRUE(glob_match("[\\]]", "]"));
  EXPECT_EQ(literal_prefix("user\\*:*"), "user*:");
  EXPECT_EQ(literal_prefix("session:?"), "session:");
  EXPECT_EQ(literal_prefix("*"), "");
}
