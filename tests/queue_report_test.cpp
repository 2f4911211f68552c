// The line a stop logs about the write-behind queues (core/queue_report.hpp):
// "drained" only when every stream answered empty.
#include <gtest/gtest.h>

#include "core/queue_report.hpp"

using namespace wtcache;

namespace {

stream_report stream(const std::string& name, int64_t length, int64_t pending, bool owned = true) {
  stream_report r;
  r.stream = name;
  r.length = length;
  r.pending = pending;
  r.owned = owned;
  return r;
}

stream_report unreachable(const std::string& name, const std::string& why) {
  stream_report r;
  r.stream = name;
  r.error = why;
  return r;
}

}  // namespace

TEST(DrainSummary, EveryStreamEmptyIsDrained) {
  auto s = summarize_drain({stream("q:0", 0, 0), stream("q:1", 0, 0, false)});
  EXPECT_TRUE(s.drained);
  EXPECT_TRUE(s.known);
  EXPECT_EQ(s.line, "write-behind queues drained into PostgreSQL: 2 streams of 2 writers, each empty in Redis");
}

TEST(DrainSummary, NamesEachStreamThatHoldsEntries) {
  auto s = summarize_drain({stream("q:0", 0, 0), stream("q:1", 3, 1), stream("q:2", 2, 0, false)});
  EXPECT_FALSE(s.drained);
  EXPECT_EQ(s.left, 5);
  EXPECT_EQ(s.line,
            "write-behind: 5 entries still queued when the grace period ended (q:1 holds 3 (1 "
            "pending); q:2 holds 2 (0 pending; its writer here did not hold the stream's lock)); "
            "what is queued stays in Redis and drains at the next start");
}

// An entry deleted from the stream while still pending is left too.
TEST(DrainSummary, APendingEntryAloneIsNotDrained) {
  auto s = summarize_drain({stream("q:0", 0, 1)});
  EXPECT_FALSE(s.drained);
  EXPECT_NE(s.line.find("q:0 holds 0 (1 pending)"), std::string::npos) << s.line;
}

// One entry is an entry.
TEST(DrainSummary, SaysEntryForOne) {
  auto s = summarize_drain({stream("q:0", 1, 0)});
  EXPECT_EQ(s.line.rfind("write-behind: 1 entry still queued when", 0), 0u) << s.line;
}

// A stream Redis could not be asked about is never counted as empty.
TEST(DrainSummary, AStreamThatDidNotAnswerIsUnknownNotEmpty) {
  auto s = summarize_drain({stream("q:0", 0, 0), unreachable("q:1", "Connection refused")});
  EXPECT_FALSE(s.drained);
  EXPECT_FALSE(s.known);
  EXPECT_EQ(s.line, "write-behind: cannot tell what is left of q:1: Connection refused; what is "
                    "queued stays in Redis and drains at the next start");
  auto both = summarize_drain({stream("q:0", 4, 0), unreachable("q:1", "timeout")});
  EXPECT_EQ(both.line, "write-behind: 4 entries still queued when the grace period ended (q:0 "
                       "holds 4 (0 pending)); cannot tell what is left of q:1: timeout; what is "
                       "queued stays in Redis and drains at the next start");
  // Figures below zero are unknown, whatever the error says.
  auto blank = summarize_drain({stream("q:0", -1, -1)});
  EXPECT_FALSE(blank.drained);
  EXPECT_NE(blank.line.find("cannot tell what is left of q:0: Redis gave no figures"),
            std::string::npos) << blank.line;
}
