// The key layout: Redis Cluster's slots and hash tags, and where each of
// wtcached's keys goes.
#include "core/key_layout.hpp"

#include <set>

#include <gtest/gtest.h>

namespace wtcache {
namespace {

TEST(KeyLayout, SlotsAreRedisClustersOwn) {
  // As redis-server 7.0 answers CLUSTER KEYSLOT.
  EXPECT_EQ(key_slot("123456789"), 12739);
  EXPECT_EQ(key_slot("foo"), 12182);
  EXPECT_EQ(key_slot("{a}1"), 15495);
  EXPECT_EQ(key_slot(""), 0);
}

TEST(KeyLayout, OnlyTheFirstNonEmptyHashTagIsHashed) {
  EXPECT_EQ(hash_tag("{user1000}.following"), "user1000");
  EXPECT_EQ(key_slot("{user1000}.following"), key_slot("{user1000}.followers"));
  EXPECT_EQ(hash_tag("foo{}{bar}"), "foo{}{bar}");  // an empty tag: the whole key
  EXPECT_EQ(hash_tag("foo{{bar}}zap"), "{bar");
  EXPECT_EQ(hash_tag("foo{bar}{zap}"), "bar");
  EXPECT_EQ(hash_tag("no tag"), "no tag");
  EXPECT_EQ(hash_tag("open{only"), "open{only");
}

TEST(KeyLayout, AKeysEntryStreamCountersAndClockShareOneSlot) {
  key_layout layout;
  for (std::string key : {"session:42", "cart:{user7}:items", "", "{}", "a}b{c"}) {
    auto g = layout.group_of(key);
    ASSERT_LT(g, layout.groups);
    auto slot = key_slot(layout.entry(key));
    EXPECT_EQ(key_slot(layout.stream("shopping_carts", g)), slot) << key;
    EXPECT_EQ(key_slot(layout.stats("shopping_carts", g)), slot) << key;
    EXPECT_EQ(key_slot(layout.scratch(g)), slot) << key;
    EXPECT_EQ(layout.client_key(layout.entry(key)), key);
  }
  EXPECT_EQ(layout.entry("session:42"),
            "wtc:{" + std::to_string(layout.group_of("session:42")) + "}:session:42");
}

TEST(KeyLayout, KeysWithOneHashTagShareAGroupAsUnderRedisCluster) {
  key_layout layout;
  EXPECT_EQ(layout.group_of("{user7}:cart"), layout.group_of("{user7}:profile"));
  EXPECT_EQ(layout.group_of("{user7}:cart"), layout.group_of("user7"));
}

TEST(KeyLayout, GroupsSpreadOverTheSlotsAndKeysOverTheGroups) {
  key_layout layout;
  std::set<uint16_t> slots;
  for (std::size_t g = 0; g < layout.groups; ++g)
    slots.insert(key_slot(layout.tag(g)));
  EXPECT_EQ(slots.size(), layout.groups);  // 256 groups, 256 slots
  std::vector<int> per_group(layout.groups);
  for (int i = 0; i < 256 * 100; ++i)
    ++per_group[layout.group_of("key:" + std::to_string(i))];
  for (auto n : per_group) {
    EXPECT_GT(n, 50);
    EXPECT_LT(n, 150);
  }
}

TEST(KeyLayout, NoEntryCanBeOneOfTheQueuesOwnKeys) {
  key_layout layout;
  // Whatever the client key, an entry has ":" right after its tag; the
  // queue's keys never do.
  for (std::string key : {"q:shopping_carts", "n:shopping_carts", "c", "t", "{layout}"}) {
    auto g = layout.group_of(key);
    auto e = layout.entry(key);
    EXPECT_NE(e, layout.stream("shopping_carts", g));
    EXPECT_NE(e, layout.stats("shopping_carts", g));
    EXPECT_NE(e, layout.scratch(g));
    EXPECT_NE(e, layout.meta());
  }
}

TEST(KeyLayout, GroupCountsArePowersOfTwoFrom256) {
  EXPECT_TRUE(valid_group_count(256));
  EXPECT_TRUE(valid_group_count(16384));
  EXPECT_FALSE(valid_group_count(128));
  EXPECT_FALSE(valid_group_count(300));
  EXPECT_FALSE(valid_group_count(32768));
  EXPECT_EQ(group_share(100000, 256), 391u);
  EXPECT_EQ(group_share(512, 256), 2u);
  EXPECT_EQ(group_share(5, 256), 1u);
}

}  // namespace
}  // namespace wtcache
