// Command planning: everything refused here must never reach a backend.
#include <gtest/gtest.h>

#include "core/commands.hpp"

using namespace wtcache;

namespace {

namespace_table spaces() {
  namespace_config def;
  def.table = "wtcache_kv";
  namespace_config session;
  session.prefix = "session:";
  session.table = "user_sessions";
  session.key_column = "user_id";
  session.value_column = "session_data";
  session.type = value_type::jsonb;
  namespace_config views;
  views.prefix = "views:";
  views.table = "page_views";
  views.type = value_type::text;
  namespace_config carts;
  carts.prefix = "cart:";
  carts.table = "shopping_carts";
  carts.mode = write_mode::write_behind;
  return namespace_table({def, session, views, carts});
}

command_plan plan(std::vector<std::string> args) {
  static auto table = spaces();
  command_limits lim;
  lim.max_value_bytes = 100;
  return plan_command(args, table, lim);
}

}  // namespace

TEST(Commands, SetBecomesOneWriteWithItsTtl) {
  auto p = plan({"set", "k", "v", "EX", "10"});
  ASSERT_EQ(p.kind, plan_kind::write);
  ASSERT_EQ(p.request.writes.size(), 1u);
  EXPECT_EQ(p.request.writes[0].expiry, expiry_change::in);
  EXPECT_EQ(p.request.writes[0].expiry_ms, 10000);
  EXPECT_EQ(p.shape, reply_shape::ok);
  EXPECT_EQ(plan({"SET", "k", "v", "px", "250"}).request.writes[0].expiry_ms, 250);
}

TEST(Commands, SetRejectsBadOptions) {
  EXPECT_EQ(plan({"SET", "k", "v", "EX", "0"}).reply,
            "-ERR invalid expire time in 'set' command\r\n");
  EXPECT_EQ(plan({"SET", "k", "v", "EX", "x"}).reply,
            "-ERR value is not an integer or out of range\r\n");
  EXPECT_EQ(plan({"SET", "k", "v", "FOO"}).reply, "-ERR syntax error\r\n");
  EXPECT_EQ(plan({"SET", "k"}).reply, "-ERR wrong number of arguments for 'set' command\r\n");
}

TEST(Commands, InvalidJsonForAJsonbNamespaceIsRefused) {
  auto p = plan({"SET", "session:1", "{\"cart\":[1,}"});
  EXPECT_EQ(p.kind, plan_kind::reply);
  EXPECT_EQ(p.reply, "-ERR invalid JSON at byte 11: expected a value\r\n");
  EXPECT_EQ(plan({"SET", "session:1", "{\"cart\":[1]}"}).kind, plan_kind::write);
  // The default namespace is bytea: anything goes.
  EXPECT_EQ(plan({"SET", "other:1", "{not json"}).kind, plan_kind::write);
}

TEST(Commands, MsetChecksEveryValueBeforeWritingAny) {
  auto p = plan({"MSET", "a", "1", "session:2", "nope"});
  EXPECT_EQ(p.kind, plan_kind::reply);
  EXPECT_EQ(plan({"MSET", "a", "1", "b"}).reply,
            "-ERR wrong number of arguments for 'mset' command\r\n");
  auto ok = plan({"MSET", "a", "1", "b", "2"});
  EXPECT_EQ(ok.request.writes.size(), 2u);
}

TEST(Commands, OversizedAndNulValuesAreRefused) {
  EXPECT_EQ(plan({"SET", "k", std::string(101, 'x')}).reply,
            "-ERR value too large (101 bytes; the limit is 100)\r\n");
  EXPECT_EQ(plan({"SET", "views:/", std::string("1\0", 2)}).kind, plan_kind::reply);
  EXPECT_EQ(plan({"SET", "k", std::string("1\0", 2)}).kind, plan_kind::write);
  EXPECT_EQ(plan({"GET", std::string("k\0", 2)}).kind, plan_kind::reply);
}

TEST(Commands, IncrFamilyComputesTheDelta) {
  EXPECT_EQ(plan({"INCR", "views:/"}).request.writes[0].delta, 1);
  EXPECT_EQ(plan({"DECR", "views:/"}).request.writes[0].delta, -1);
  EXPECT_EQ(plan({"INCRBY", "views:/", "5"}).request.writes[0].delta, 5);
  EXPECT_EQ(plan({"DECRBY", "views:/", "5"}).request.writes[0].delta, -5);
  EXPECT_EQ(plan({"INCRBY", "views:/", "x"}).reply,
            "-ERR value is not an integer or out of range\r\n");
  EXPECT_EQ(plan({"DECRBY", "k", "-9223372036854775808"}).reply,
            "-ERR decrement would overflow\r\n");
}

TEST(Commands, ReadsAndLocalReplies) {
  EXPECT_EQ(plan({"GET", "k"}).kind, plan_kind::read);
  EXPECT_EQ(plan({"MGET", "a", "b"}).keys.size(), 2u);
  EXPECT_EQ(plan({"EXISTS", "a", "b"}).shape, reply_shape::found_count);
  EXPECT_EQ(plan({"PING"}).reply, "+PONG\r\n");
  EXPECT_EQ(plan({"ping", "hi"}).reply, "$2\r\nhi\r\n");
  EXPECT_EQ(plan({"ECHO", "x"}).reply, "$1\r\nx\r\n");
  EXPECT_EQ(plan({"SELECT", "0"}).reply, "+OK\r\n");
  EXPECT_EQ(plan({"SELECT", "1"}).reply, "-ERR DB index is out of range\r\n");
  // The connection's own: it holds the name, the id and the transaction.
  EXPECT_EQ(plan({"CLIENT", "SETNAME", "me"}).control, "CLIENT");
  EXPECT_EQ(plan({"HELLO", "3"}).control, "HELLO");
  EXPECT_EQ(plan({"exec"}).control, "EXEC");
  EXPECT_EQ(plan({"COMMAND", "COUNT"}).reply,
            ":" + std::to_string(supported_commands().size()) + "\r\n");
  EXPECT_EQ(plan({"COMMAND", "DOCS", "get"}).reply.substr(0, 11), "*2\r\n$3\r\nget");
  auto quit = plan({"QUIT"});
  EXPECT_TRUE(quit.close_after);
  EXPECT_EQ(plan({"INFO", "Stats"}).info_section, "stats");
}

TEST(Commands, UnknownCommandsGetRedissText) {
  EXPECT_EQ(plan({"LPUSH"}).reply,
            "-ERR unknown command 'LPUSH', with args beginning with: \r\n");
  EXPECT_EQ(plan({"hset", "a", "b"}).reply,
            "-ERR unknown command 'hset', with args beginning with: 'a' 'b' \r\n");
}

TEST(Commands, OneCommandNeverMixesWriteThroughAndWriteBehindKeys) {
  auto mixed = plan({"MSET", "cart:1", "a", "views:x", "1"});
  EXPECT_EQ(mixed.kind, plan_kind::reply);
  EXPECT_EQ(mixed.reply, "-ERR MSET mixes write-through and write-behind keys; send them "
                         "separately\r\n");
  EXPECT_EQ(plan({"DEL", "cart:1", "k"}).kind, plan_kind::reply);
  EXPECT_EQ(plan({"MSET", "cart:1", "a", "cart:2", "b"}).kind, plan_kind::write);
  EXPECT_EQ(plan({"DEL", "views:x", "k"}).kind, plan_kind::write);
}
