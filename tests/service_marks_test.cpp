// Pending marks (backends/scripts/mark.lua, fence.lua) on a real Redis, as
// two nodes' workers would leave them: each write takes away its own mark
// only, a fill never lands while a mark is live, and the mark of a writer
// that died lapses into a read-through, never into a stale copy.
#include <chrono>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <spdlog/spdlog.h>

#include "backends/endpoints.hpp"
#include "backends/redis_cache.hpp"
#include "backends/redis_connection.hpp"
#include "tests/support/resp_client.hpp"
#include "tests/support/servers.hpp"

using namespace wtcache;
using namespace wtcache::test;
using namespace std::chrono_literals;

namespace {

class Marks : public ::testing::Test {
protected:
  void SetUp() override {
    redis_ = redis_connection(parse_redis_url(servers::get().redis_url(), "redis"), 2000ms);
    auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    key_ = std::string("wtc:marks:") + info->name();
    resp_client(servers::get().redis_port()).cmd({"DEL", key_});
  }

  cache_write value(int64_t version, const std::string& data, const std::string& mark,
                    int64_t ttl_ms = 3600 * 1000) {
    cache_write w;
    w.redis_key = key_;
    w.version = version;
    w.data = data;
    w.ttl_ms = ttl_ms;
    w.mark = mark;
    return w;
  }

  // 1: written, 0: not.
  int write(const cache_write& w) {
    auto rs = write_fenced(redis_, {w}, *spdlog::default_logger());
    EXPECT_TRUE(rs) << (rs ? "" : to_string(rs.error()));
    return rs && rs->size() == 1 && (*rs)[0] == cache_write_result::applied ? 1 : 0;
  }

  cache_entry read() {
    auto es = read_entries(redis_, {key_});
    EXPECT_TRUE(es && es->size() == 1);
    return es && es->size() == 1 ? es->front() : cache_entry{};
  }

  // What a reader takes away from the entry: its value, or "" for a miss.
  std::string hit() {
    auto e = read();
    return e.present && !e.tombstone ? e.data : "";
  }

  reply field(const std::string& name) {
    return resp_client(servers::get().redis_port()).cmd({"HGET", key_, name});
  }

  // Waits until Redis's clock has passed the entry's latest mark deadline.
  bool marks_lapsed() {
    auto deadline = std::stoll(field("pu").str);
    resp_client clock(servers::get().redis_port());
    return eventually([&] {
      auto t = clock.cmd({"TIME"});
      return std::stoll(t.elements.at(0).str) * 1000 + std::stoll(t.elements.at(1).str) / 1000 >
             deadline;
    });
  }

  redis_connection redis_;
  std::string key_;
};

TEST_F(Marks, AMarkedEntryIsAMissAndRefusesFillsUntilItsWriteTakesTheMarkAway) {
  ASSERT_EQ(write(value(10, "old", "")), 1);
  EXPECT_EQ(hit(), "old");
  ASSERT_FALSE(mark_pending(redis_, {key_}, "a:1", 60000));
  EXPECT_EQ(hit(), "");  // a write may have committed: nothing here is current
  EXPECT_EQ(write(value(10, "old", "")), 0) << "a fill landed on a marked entry";
  EXPECT_EQ(write(value(11, "new", "a:1")), 1);
  EXPECT_EQ(hit(), "new");
  EXPECT_TRUE(field("p").is_nil());
  EXPECT_TRUE(field("pu").is_nil());
}

TEST_F(Marks, OneNodesCacheUpdateNeverClearsAnotherNodesMarkInFlight) {
  ASSERT_EQ(write(value(10, "old", "")), 1);
  ASSERT_FALSE(mark_pending(redis_, {key_}, "nodeA:1", 60000));
  ASSERT_FALSE(mark_pending(redis_, {key_}, "nodeB:1", 60000));
  EXPECT_EQ(field("p").str, "2");
  // A commits first (B waits on the row lock) and updates the cache.
  EXPECT_EQ(write(value(11, "fromA", "nodeA:1")), 1);
  EXPECT_EQ(hit(), "") << "B may commit and acknowledge before its cache update";
  EXPECT_EQ(write(value(11, "fromA", "")), 0) << "a fill of A's row while B is in flight";
  // The same mark again (a retried update) takes nothing more.
  EXPECT_EQ(write(value(11, "fromA", "nodeA:1")), 0);
  EXPECT_EQ(hit(), "");
  EXPECT_EQ(write(value(12, "fromB", "nodeB:1")), 1);
  EXPECT_EQ(hit(), "fromB");
}

TEST_F(Marks, AWriteThatCommittedNothingReleasesItsMarkAndLeavesTheValue) {
  ASSERT_EQ(write(value(10, "kept", "")), 1);
  ASSERT_FALSE(mark_pending(redis_, {key_}, "a:2", 60000));
  auto release = value(0, "", "a:2");
  release.release = true;
  EXPECT_EQ(write(release), 0);
  EXPECT_EQ(hit(), "kept");
}

TEST_F(Marks, AValueWrittenBesideALiveMarkOutlivesTheMark) {
  ASSERT_FALSE(mark_pending(redis_, {key_}, "a:3", 60000));
  ASSERT_FALSE(mark_pending(redis_, {key_}, "b:3", 60000));
  ASSERT_EQ(write(value(5, "short", "a:3", 2000)), 1);
  auto ttl = resp_client(servers::get().redis_port()).cmd({"PTTL", key_}).number;
  EXPECT_GT(ttl, 50000) << "the entry must not expire before b's mark: a fill could land";
}

TEST_F(Marks, TheMarkOfAWriterThatDiedLapsesIntoAReadThrough) {
  ASSERT_EQ(write(value(10, "old", "")), 1);
  ASSERT_FALSE(mark_pending(redis_, {key_}, "dead:1", 200));  // its writer never comes back
  ASSERT_TRUE(marks_lapsed());
  // Readers do not judge the deadline (their clocks are not Redis's): still a miss.
  EXPECT_EQ(hit(), "");
  // The read-through's fill finds the lapsed mark and starts over from the row.
  EXPECT_EQ(write(value(12, "row", "")), 1);
  EXPECT_EQ(hit(), "row");
  EXPECT_TRUE(field("p").is_nil());
}

// The cache update sent beside COMMIT (the default ack): the value goes in
// but keeps its mark, so no reader takes it before COMMIT has answered and
// the release follows; until then fills are refused as for any mark.
TEST_F(Marks, APendingValueStaysUnreadUntilItsReleaseAndThenIsTheCopy) {
  ASSERT_EQ(write(value(10, "old", "")), 1);
  ASSERT_FALSE(mark_pending(redis_, {key_}, "a:7", 60000));
  auto pending = value(11, "new", "a:7");
  pending.pending = true;
  EXPECT_EQ(write(pending), 1);
  EXPECT_EQ(hit(), "") << "a value whose COMMIT has not answered was read";
  EXPECT_EQ(field("p").str, "1");
  EXPECT_EQ(write(value(10, "old", "")), 0) << "a fill landed beside a pending value";
  auto release = value(11, "", "a:7");
  release.release = true;
  EXPECT_EQ(write(release), 0);
  EXPECT_EQ(hit(), "new");
  EXPECT_TRUE(field("p").is_nil());
  auto ttl = resp_client(servers::get().redis_port()).cmd({"PTTL", key_}).number;
  EXPECT_GT(ttl, 3000 * 1000) << "the copy keeps the cache TTL it was written with";
}

// Without its mark (lapsed, or never in) a pending value would be read
// before its COMMIT: refused, and the copy there stays.
TEST_F(Marks, APendingValueWhoseMarkIsGoneIsRefused) {
  ASSERT_EQ(write(value(10, "old", "")), 1);
  auto pending = value(11, "new", "never:1");
  pending.pending = true;
  EXPECT_EQ(write(pending), 0);
  EXPECT_EQ(hit(), "old");
  ASSERT_FALSE(mark_pending(redis_, {key_}, "other:1", 60000));
  EXPECT_EQ(write(pending), 0) << "another writer's mark is not this value's";
  EXPECT_EQ(field("v").str, "10");
}

// A pending value that comes after its own mark lapsed (its writer was that
// late): the mark is dropped with the copy, and the value refused, so a
// reader reads through rather than trust either.
TEST_F(Marks, APendingValueThatComesAfterItsOwnMarkLapsedIsRefused) {
  ASSERT_EQ(write(value(10, "old", "")), 1);
  ASSERT_FALSE(mark_pending(redis_, {key_}, "late:1", 200));
  ASSERT_TRUE(marks_lapsed());
  auto pending = value(11, "late", "late:1");
  pending.pending = true;
  EXPECT_EQ(write(pending), 0);
  EXPECT_EQ(hit(), "");
  EXPECT_TRUE(field("p:late:1").is_nil());
}

// The COMMIT beside which a pending value went failed, or its node died:
// no release comes, the mark lapses, and the value goes with it.
TEST_F(Marks, APendingValueWhoseCommitNeverAnsweredLapsesIntoAReadThrough) {
  ASSERT_EQ(write(value(10, "old", "")), 1);
  ASSERT_FALSE(mark_pending(redis_, {key_}, "dead:3", 200));
  auto pending = value(11, "uncommitted", "dead:3");
  pending.pending = true;
  ASSERT_EQ(write(pending), 1);
  ASSERT_TRUE(marks_lapsed());
  EXPECT_EQ(hit(), "");
  // The read-through finds the row as it was (version 10) and fills it.
  EXPECT_EQ(write(value(10, "old", "")), 1);
  EXPECT_EQ(hit(), "old");
}

// A value about to expire is not cached (its entry could outlive it): its
// transaction's cache update leaves a tombstone at its version instead and
// takes the mark away. The older copy never comes back.
TEST_F(Marks, AValueTooCloseToItsExpiryLeavesATombstoneAndItsMarkGoes) {
  ASSERT_EQ(write(value(10, "old", "")), 1);
  ASSERT_FALSE(mark_pending(redis_, {key_}, "a:5", 60000));
  auto w = value(11, "expiring", "a:5");
  w.expire_by_ns = (std::chrono::steady_clock::now() + 1ms).time_since_epoch().count();
  auto rs = write_fenced(redis_, {w}, *spdlog::default_logger());
  ASSERT_TRUE(rs);
  ASSERT_EQ(rs->size(), 1u);
  EXPECT_EQ((*rs)[0], cache_write_result::applied);
  EXPECT_TRUE(field("p").is_nil());
  EXPECT_EQ(hit(), "");
  EXPECT_EQ(field("k").str, "t");
  EXPECT_EQ(field("v").str, "11");
  // A fill of the old row is fenced out.
  EXPECT_EQ(write(value(10, "old", "")), 0);
}

// A mark stretches the TTL of a copy about to expire; when the transaction
// writes nothing after all, the copy gets its own expiry back.
TEST_F(Marks, AReleasedMarkGivesTheCopyItsOwnExpiryBack) {
  ASSERT_EQ(write(value(10, "soon", "", 3000)), 1);
  ASSERT_FALSE(mark_pending(redis_, {key_}, "a:6", 60000));
  resp_client r(servers::get().redis_port());
  EXPECT_GT(r.cmd({"PTTL", key_}).number, 50000);
  auto release = value(0, "", "a:6");
  release.release = true;
  EXPECT_EQ(write(release), 0);
  auto ttl = r.cmd({"PTTL", key_}).number;
  EXPECT_GT(ttl, 0);
  EXPECT_LE(ttl, 3000);
  EXPECT_TRUE(field("px").is_nil());
  EXPECT_EQ(hit(), "soon");
}

// One writer died with its mark in while others keep writing the key: its
// mark lapses on its own deadline, not on the latest of them all, and the
// copy it may have made stale goes with it.
TEST_F(Marks, ADeadWritersMarkLapsesWhileOthersKeepMarkingTheKey) {
  ASSERT_EQ(write(value(10, "old", "")), 1);
  ASSERT_FALSE(mark_pending(redis_, {key_}, "dead:2", 200));
  auto deadline = std::stoll(resp_client(servers::get().redis_port()).cmd({"HGET", key_, "p:dead:2"}).str);
  resp_client clock(servers::get().redis_port());
  ASSERT_TRUE(eventually([&] {
    auto t = clock.cmd({"TIME"});
    return std::stoll(t.elements.at(0).str) * 1000 + std::stoll(t.elements.at(1).str) / 1000 >
           deadline;
  }));
  ASSERT_FALSE(mark_pending(redis_, {key_}, "live:2", 60000));
  EXPECT_EQ(write(value(12, "fromLive", "live:2")), 1);
  EXPECT_EQ(hit(), "fromLive");
  EXPECT_TRUE(field("p:dead:2").is_nil());
}

TEST_F(Marks, AMarkOnAKeyOfAnotherProgramReplacesIt) {
  resp_client(servers::get().redis_port()).cmd({"SET", key_, "not a hash"});
  ASSERT_FALSE(mark_pending(redis_, {key_}, "a:4", 60000));
  EXPECT_EQ(hit(), "");
  EXPECT_EQ(write(value(3, "mine", "a:4")), 1);
  EXPECT_EQ(hit(), "mine");
}

}  // namespace
