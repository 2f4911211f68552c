// String writes decided from the row: each command's rule against the rows
// it can meet (absent, present, expiring, expired at once).
#include <gtest/gtest.h>

#include "core/string_ops.hpp"

using namespace wtcache;

namespace {

constexpr int64_t now = 1'700'000'000'000;

current_row absent() {
  current_row r;
  r.now_ms = now;
  return r;
}

current_row row(std::string value, int64_t expires = -1) {
  current_row r;
  r.exists = true;
  r.value = std::move(value);
  r.expires_ms = expires;
  r.now_ms = now;
  return r;
}

store_op op(op_kind kind, std::string value = {}, uint8_t flags = 0,
            expiry_change expiry = expiry_change::clear, int64_t ms = 0) {
  store_op o;
  o.kind = kind;
  o.value = std::move(value);
  o.flags = flags;
  o.expiry = expiry;
  o.expiry_ms = ms;
  return o;
}

decision run(const store_op& o, const current_row& r) { return decide(o, r, 100); }

}  // namespace

TEST(StringOps, SetNxWritesOnlyAnAbsentKey) {
  auto d = run(op(op_kind::set, "v", op_flag::nx), absent());
  EXPECT_EQ(d.action, decision::write);
  EXPECT_TRUE(d.applied);
  d = run(op(op_kind::set, "v", op_flag::nx), row("old"));
  EXPECT_EQ(d.action, decision::keep);
  EXPECT_FALSE(d.applied);
}

TEST(StringOps, SetXxWritesOnlyAPresentKey) {
  EXPECT_EQ(run(op(op_kind::set, "v", op_flag::xx), absent()).action, decision::keep);
  EXPECT_EQ(run(op(op_kind::set, "v", op_flag::xx), row("old")).action, decision::write);
}

TEST(StringOps, SetGetAnswersTheOldValueWhetherOrNotItWrites) {
  auto d = run(op(op_kind::set, "v", op_flag::get | op_flag::nx), row("old"));
  EXPECT_TRUE(d.found);
  EXPECT_EQ(d.bulk, "old");
  EXPECT_EQ(d.action, decision::keep);
  d = run(op(op_kind::set, "v", op_flag::get), absent());
  EXPECT_FALSE(d.found);
  EXPECT_EQ(d.action, decision::write);
}

TEST(StringOps, SetClearsTheExpiryUnlessKeepTtl) {
  EXPECT_EQ(run(op(op_kind::set, "v"), row("old", now + 5000)).expires_ms, -1);
  EXPECT_EQ(run(op(op_kind::set, "v", 0, expiry_change::keep), row("old", now + 5000)).expires_ms,
            now + 5000);
  EXPECT_EQ(run(op(op_kind::set, "v", 0, expiry_change::in, 10000), absent()).expires_ms,
            now + 10000);
}

TEST(StringOps, AnExpiryInThePastRemovesTheKey) {
  EXPECT_EQ(run(op(op_kind::set, "v", 0, expiry_change::at, now - 1), absent()).action,
            decision::remove);
  auto d = run(op(op_kind::expire, {}, 0, expiry_change::in, -5), row("v"));
  EXPECT_EQ(d.action, decision::remove);
  EXPECT_TRUE(d.applied);
}

TEST(StringOps, ExpireFlagsFollowRedis) {
  auto expire = [](uint8_t flags, int64_t at) {
    return op(op_kind::expire, {}, flags, expiry_change::at, at);
  };
  EXPECT_FALSE(run(expire(0, now + 100), absent()).applied);
  EXPECT_FALSE(run(expire(op_flag::nx, now + 100), row("v", now + 50)).applied);
  EXPECT_TRUE(run(expire(op_flag::nx, now + 100), row("v")).applied);
  EXPECT_FALSE(run(expire(op_flag::xx, now + 100), row("v")).applied);
  // GT: no expiry counts as forever, so nothing is greater.
  EXPECT_FALSE(run(expire(op_flag::gt, now + 100), row("v")).applied);
  EXPECT_TRUE(run(expire(op_flag::gt, now + 100), row("v", now + 50)).applied);
  EXPECT_FALSE(run(expire(op_flag::gt, now + 50), row("v", now + 50)).applied);
  EXPECT_TRUE(run(expire(op_flag::lt, now + 100), row("v")).applied);
  EXPECT_FALSE(run(expire(op_flag::lt, now + 100), row("v", now + 50)).applied);
  // XX and LT together: both must hold.
  EXPECT_FALSE(run(expire(op_flag::xx | op_flag::lt, now + 100), row("v")).applied);
  auto d = run(expire(0, now + 100), row("v", now + 50));
  EXPECT_EQ(d.action, decision::write);
  EXPECT_EQ(d.value, "v");
  EXPECT_EQ(d.expires_ms, now + 100);
}

TEST(StringOps, PersistRemovesOnlyAnExpiryThatIsThere) {
  EXPECT_FALSE(run(op(op_kind::persist), row("v")).applied);
  EXPECT_EQ(run(op(op_kind::persist), row("v")).action, decision::keep);
  auto d = run(op(op_kind::persist), row("v", now + 50));
  EXPECT_TRUE(d.applied);
  EXPECT_EQ(d.action, decision::write);
  EXPECT_EQ(d.expires_ms, -1);
}

TEST(StringOps, AppendAndSetRangeKeepTheExpiryAndCountTheLength) {
  auto d = run(op(op_kind::append, "def", 0, expiry_change::keep), row("abc", now + 9));
  EXPECT_EQ(d.value, "abcdef");
  EXPECT_EQ(d.number, 6);
  EXPECT_EQ(d.expires_ms, now + 9);
  auto r = op(op_kind::setrange, "XY", 0, expiry_change::keep);
  r.delta = 5;
  d = run(r, row("abc"));
  EXPECT_EQ(d.value, std::string("abc\0\0XY", 7));
  EXPECT_EQ(d.number, 7);
  d = run(op(op_kind::append, std::string(60, 'x')), row(std::string(50, 'y')));
  EXPECT_EQ(d.error, "ERR string exceeds maximum allowed size (proto-max-bulk-len)");
}

TEST(StringOps, SetRangeWithNothingToWriteLeavesAnAbsentKeyAbsent) {
  auto r = op(op_kind::setrange, "");
  r.delta = 3;
  auto d = run(r, absent());
  EXPECT_EQ(d.action, decision::keep);
  EXPECT_EQ(d.number, 0);
  EXPECT_EQ(run(r, row("abcd")).number, 4);
}

TEST(StringOps, IncrRefusesWhatIsNotAnInteger) {
  auto i = op(op_kind::incr, {}, 0, expiry_change::keep);
  i.delta = 5;
  EXPECT_EQ(run(i, row("10")).number, 15);
  EXPECT_EQ(run(i, absent()).number, 5);
  EXPECT_EQ(run(i, row(" 10")).error, "ERR value is not an integer or out of range");
  EXPECT_EQ(run(i, row("010")).error, "ERR value is not an integer or out of range");
  i.delta = 1;
  EXPECT_EQ(run(i, row("9223372036854775807")).error, "ERR increment or decrement would overflow");
}

TEST(StringOps, IncrByFloatPrintsAsRedisDoes) {
  auto f = op(op_kind::incr_float, "0.1", 0, expiry_change::keep);
  EXPECT_EQ(run(f, row("10.5")).bulk, "10.6");
  EXPECT_EQ(run(op(op_kind::incr_float, "5.0e3"), row("0")).bulk, "5000");
  EXPECT_EQ(run(op(op_kind::incr_float, "-1"), row("1")).bulk, "0");
  EXPECT_EQ(run(f, row("abc")).error, "ERR value is not a valid float");
  EXPECT_EQ(run(op(op_kind::incr_float, "inf"), row("1")).error,
            "ERR increment would produce NaN or Infinity");
  EXPECT_FALSE(parse_redis_float(" 1"));
  EXPECT_FALSE(parse_redis_float("1x"));
  EXPECT_FALSE(parse_redis_float("nan"));
  EXPECT_TRUE(parse_redis_float("1e10"));
}

TEST(StringOps, GetDelAnswersTheValueAndRemovesIt) {
  auto d = run(op(op_kind::del, {}, op_flag::get), row("v"));
  EXPECT_EQ(d.action, decision::remove);
  EXPECT_EQ(d.bulk, "v");
  EXPECT_EQ(run(op(op_kind::del, {}, op_flag::get), absent()).action, decision::keep);
}
