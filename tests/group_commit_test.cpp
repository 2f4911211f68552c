// Group commit (core/group_commit.hpp): batch caps, refusals, writes that
// waited past their deadline, the plan of a batch with duplicate keys and
// mixed operations, and the watchdog of the transaction in flight.
#include <gtest/gtest.h>

#include "core/group_commit.hpp"

using namespace wtcache;
using namespace std::chrono_literals;
using clock_type = std::chrono::steady_clock;

namespace {

write_request command(std::initializer_list<key_write> writes) { return {writes}; }
key_write set(std::string key, std::string value) {
  return {op_kind::set, std::move(key), std::move(value), 0};
}
key_write del(std::string key) { return {op_kind::del, std::move(key), {}, 0}; }
key_write incr(std::string key, int64_t by) { return {op_kind::incr, std::move(key), {}, by}; }

std::vector<int> tickets(const std::vector<group_commit<int>::pending>& ps) {
  std::vector<int> out;
  for (auto& p : ps)
    out.push_back(p.ticket);
  return out;
}

const auto t0 = clock_type::now();

}  // namespace

TEST(GroupCommit, ABatchTakesWholeCommandsUpToTheCap) {
  group_commit<int> gc(100, 3);
  gc.admit(command({set("a", "1"), set("b", "2")}), 1, t0, t0 + 1s);
  gc.admit(command({set("c", "3"), set("d", "4")}), 2, t0, t0 + 1s);  // 4 ops: over the cap
  gc.admit(command({set("e", "5")}), 3, t0, t0 + 1s);
  auto first = gc.take(t0);
  EXPECT_EQ(tickets(first.batch), (std::vector<int>{1}));
  EXPECT_TRUE(gc.in_flight());
  EXPECT_TRUE(gc.take(t0).batch.empty());  // one transaction at a time
  gc.done();
  EXPECT_EQ(tickets(gc.take(t0).batch), (std::vector<int>{2, 3}));
}

TEST(GroupCommit, ACommandLargerThanTheCapStillGoesAlone) {
  group_commit<int> gc(100, 2);
  gc.admit(command({set("a", "1"), set("b", "2"), set("c", "3")}), 1, t0, t0 + 1s);
  gc.admit(command({set("d", "4")}), 2, t0, t0 + 1s);
  EXPECT_EQ(tickets(gc.take(t0).batch), (std::vector<int>{1}));
  gc.done();
  EXPECT_EQ(tickets(gc.take(t0).batch), (std::vector<int>{2}));
}

TEST(GroupCommit, AFullQueueRefusesAndQueuesNothing) {
  group_commit<int> gc(2, 100);
  EXPECT_TRUE(gc.admit(command({set("a", "1")}), 1, t0, t0 + 1s));
  EXPECT_FALSE(gc.full());
  EXPECT_TRUE(gc.admit(command({set("b", "1")}), 2, t0, t0 + 1s));
  EXPECT_TRUE(gc.full());
  EXPECT_FALSE(gc.admit(command({set("c", "1")}), 3, t0, t0 + 1s));
  EXPECT_EQ(gc.waiting(), 2u);
  EXPECT_EQ(tickets(gc.take(t0).batch), (std::vector<int>{1, 2}));
}

TEST(GroupCommit, WritesThatWaitedPastTheirDeadlineNeverRun) {
  group_commit<int> gc(100, 100);
  gc.admit(command({set("a", "1")}), 1, t0, t0 + 10ms);
  gc.admit(command({set("b", "2")}), 2, t0, t0 + 1s);
  gc.admit(command({set("c", "3")}), 3, t0, t0 + 10ms);
  auto next = gc.take(t0 + 50ms);
  EXPECT_EQ(tickets(next.expired), (std::vector<int>{1, 3}));
  EXPECT_EQ(tickets(next.batch), (std::vector<int>{2}));
  // Only expired ones: nothing goes out, nothing is in flight.
  gc.done();
  gc.admit(command({set("d", "4")}), 4, t0, t0 + 10ms);
  auto none = gc.take(t0 + 50ms);
  EXPECT_EQ(tickets(none.expired), (std::vector<int>{4}));
  EXPECT_TRUE(none.batch.empty());
  EXPECT_FALSE(gc.in_flight());
}

TEST(GroupCommit, ThePlanKeepsEveryWriteInOrderWithOneGroupPerCommand) {
  namespace_config def;
  def.table = "wtcache_kv";
  namespace_table spaces({def});
  group_commit<int> gc(100, 100);
  // The same key twice, across commands and within one; every kind of op.
  gc.admit(command({set("k", "first"), incr("n", 5)}), 1, t0, t0 + 1s);
  gc.admit(command({set("k", "second")}), 2, t0, t0 + 1s);
  gc.admit(command({del("k"), del("gone")}), 3, t0, t0 + 1s);
  auto batch = gc.take(t0).batch;
  auto plan = plan_transaction(batch, spaces);
  ASSERT_EQ(plan.ops.size(), 5u);
  EXPECT_EQ(plan.keys, (std::vector<std::string>{"k", "n", "k", "k", "gone"}));
  std::vector<uint32_t> groups;
  std::vector<op_kind> kinds;
  for (auto& op : plan.ops) {
    groups.push_back(op.group);
    kinds.push_back(op.kind);
  }
  EXPECT_EQ(groups, (std::vector<uint32_t>{0, 0, 1, 2, 2}));
  EXPECT_EQ(kinds, (std::vector<op_kind>{op_kind::set, op_kind::incr, op_kind::set, op_kind::del,
                                         op_kind::del}));
  EXPECT_EQ(plan.ops[0].value, "first");
  EXPECT_EQ(plan.ops[2].value, "second");
  EXPECT_EQ(plan.ops[1].delta, 5);
  EXPECT_EQ(plan.ops[0].id, "k");  // the default namespace: the key is the row's id
}

TEST(GroupCommit, TheWatchdogGivesUpOnlyOnTheBatchInFlight) {
  group_commit<int> gc(100, 100);
  gc.admit(command({set("a", "1")}), 1, t0, t0 + 1s);
  gc.take(t0);
  auto [first, arm] = gc.watch(t0 + 100ms);
  EXPECT_TRUE(arm);
  EXPECT_TRUE(gc.answered(first));
  EXPECT_FALSE(gc.answered(first));  // once
  gc.done();
  // The timer armed for the first batch fires while a later one is out:
  // armed again for the later one's time, not given up on.
  gc.admit(command({set("b", "2")}), 2, t0, t0 + 1s);
  gc.take(t0);
  auto [second, arm_again] = gc.watch(t0 + 300ms);
  EXPECT_FALSE(arm_again);  // the first timer is still pending
  clock_type::time_point at;
  EXPECT_EQ(gc.fired(t0 + 100ms, at), group_commit<int>::timer::rearm);
  EXPECT_EQ(at, t0 + 300ms);
  EXPECT_EQ(gc.fired(t0 + 300ms, at), group_commit<int>::timer::give_up);
  // Its late answer is ignored.
  EXPECT_FALSE(gc.answered(second));
  EXPECT_EQ(gc.fired(t0 + 400ms, at), group_commit<int>::timer::idle);
}

TEST(GroupCommit, ACommittedBatchLetsTheNextGoAndIsNoLongerWatched) {
  group_commit<int> gc(100, 100);
  // A lone client: nothing came while its batch was out, no early word.
  gc.admit(command({set("a", "1")}), 1, t0, t0 + 1s);
  gc.take(t0);
  EXPECT_FALSE(gc.overlapping());
  auto [first, arm] = gc.watch(t0 + 100ms);
  gc.admit(command({set("b", "2")}), 2, t0, t0 + 1s);  // came while it was out
  EXPECT_TRUE(gc.answered(first));
  gc.done();
  EXPECT_EQ(tickets(gc.take(t0).batch), (std::vector<int>{2}));
  EXPECT_TRUE(gc.overlapping());
  auto [second, arm2] = gc.watch(t0 + 200ms);
  gc.admit(command({set("c", "3")}), 3, t0, t0 + 1s);
  EXPECT_TRUE(gc.take(t0).batch.empty());  // still one transaction at a time
  // Committed: the next batch goes before the second's answer.
  EXPECT_TRUE(gc.committed(second));
  EXPECT_FALSE(gc.committed(second));  // once
  EXPECT_FALSE(gc.in_flight());
  EXPECT_EQ(tickets(gc.take(t0).batch), (std::vector<int>{3}));
  auto [third, arm3] = gc.watch(t0 + 300ms);
  // The second's answer is not the third's, and the timer is the third's.
  EXPECT_FALSE(gc.answered(second));
  clock_type::time_point at;
  EXPECT_EQ(gc.fired(t0 + 200ms, at), group_commit<int>::timer::rearm);
  EXPECT_EQ(at, t0 + 300ms);
  // A commit word for a batch given up on is ignored.
  EXPECT_EQ(gc.fired(t0 + 300ms, at), group_commit<int>::timer::give_up);
  EXPECT_FALSE(gc.committed(third));
  (void)arm; (void)arm2; (void)arm3;
}
