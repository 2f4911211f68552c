// Redis's replies read from bytes by hiredis's reader (backends/reply_reader):
// every kind, a reply only once all of it is there, and junk that ends the
// stream.
#include <gtest/gtest.h>

#include <hiredis/hiredis.h>

#include "backends/reply_reader.hpp"

using namespace wtcache;

namespace {

std::vector<redis_reply> read_all(reply_reader& r, reply_reader::status& last) {
  std::vector<redis_reply> out;
  redis_reply one;
  while ((last = r.next(one)) == reply_reader::status::reply)
    out.push_back(std::move(one));
  return out;
}

}  // namespace

TEST(ReplyReader, ReadsEachKindOfReply) {
  reply_reader r;
  std::string in = "+OK\r\n-WRONGTYPE Operation against a key\r\n:-42\r\n$5\r\nhe\r\no\r\n$-1\r\n"
                   "*3\r\n$1\r\n7\r\n$-1\r\n*1\r\n:1\r\n";
  r.feed(in.data(), in.size());
  reply_reader::status last;
  auto got = read_all(r, last);
  EXPECT_EQ(last, reply_reader::status::incomplete);
  ASSERT_EQ(got.size(), 6u);
  EXPECT_EQ(got[0]->type, REDIS_REPLY_STATUS);
  EXPECT_EQ(reply_text(got[0].get()), "OK");
  EXPECT_TRUE(is_error_code(got[1].get(), "WRONGTYPE"));
  EXPECT_EQ(got[2]->integer, -42);
  EXPECT_EQ(std::string(got[3]->str, got[3]->len), "he\r\no");  // binary-safe
  EXPECT_EQ(got[4]->type, REDIS_REPLY_NIL);
  ASSERT_EQ(got[5]->type, REDIS_REPLY_ARRAY);
  ASSERT_EQ(got[5]->elements, 3u);
  EXPECT_EQ(reply_text(got[5]->element[0]), "7");
  EXPECT_EQ(got[5]->element[1]->type, REDIS_REPLY_NIL);
  EXPECT_EQ(got[5]->element[2]->element[0]->integer, 1);
}

TEST(ReplyReader, HandsOutAReplyOnlyWhenAllOfItIsThere) {
  std::string in = "*3\r\n$2\r\n12\r\n$1\r\nv\r\n$11\r\nhello world\r\n:5\r\n";
  reply_reader r;
  std::vector<redis_reply> got;
  for (char c : in) {
    r.feed(&c, 1);
    reply_reader::status last;
    for (auto& x : read_all(r, last))
      got.push_back(std::move(x));
    ASSERT_NE(last, reply_reader::status::error);
  }
  ASSERT_EQ(got.size(), 2u);
  ASSERT_EQ(got[0]->elements, 3u);
  EXPECT_EQ(reply_text(got[0]->element[2]), "hello world");
  EXPECT_EQ(got[1]->integer, 5);
}

TEST(ReplyReader, JunkEndsTheStreamForGood) {
  for (std::string junk : {"?what\r\n", "$abc\r\n", "*-5x\r\n"}) {
    reply_reader r;
    r.feed(junk.data(), junk.size());
    redis_reply one;
    EXPECT_EQ(r.next(one), reply_reader::status::error) << junk;
    EXPECT_FALSE(r.error_message().empty());
    std::string more = "+OK\r\n";
    r.feed(more.data(), more.size());
    EXPECT_EQ(r.next(one), reply_reader::status::error);
  }
}

// hiredis allocates an array's element pointers on reading its header: a
// header of hundreds of millions fails the stream rather than take GBs.
// One of a legitimate size still reads.
TEST(ReplyReader, AnArrayHeaderFarBeyondAnyReplyEndsTheStream) {
  reply_reader r;
  std::string huge = "*300000000\r\n$1\r\na\r\n";
  r.feed(huge.data(), huge.size());
  redis_reply one;
  EXPECT_EQ(r.next(one), reply_reader::status::error);
  reply_reader ok;
  std::string two = "*2\r\n:1\r\n:2\r\n";
  ok.feed(two.data(), two.size());
  ASSERT_EQ(ok.next(one), reply_reader::status::reply);
  EXPECT_EQ(one->elements, 2u);
}
