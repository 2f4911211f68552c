// Users, passwords and permissions (core/acl.hpp), without servers.
#include <gtest/gtest.h>

#include "core/acl.hpp"
#include "core/command_table.hpp"

namespace wtcache {

namespace {

denial access(const access_control::user& u, std::vector<std::string> args) {
  std::string name;
  for (char c : args[0])
    name += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return check_access(u, *find_command(name), args);
}

user_config user(const std::string& name, const std::string& password, bool read_only,
                 std::vector<std::string> keys) {
  user_config u;
  u.name = name;
  u.password_sha256 = sha256_hex(password);
  u.read_only = read_only;
  u.keys = std::move(keys);
  return u;
}

}  // namespace

TEST(Acl, Sha256IsTheStandardDigest) {
  EXPECT_EQ(sha256_hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(sha256_hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_TRUE(is_sha256_hex(sha256_hex("x")));
  EXPECT_TRUE(is_sha256_hex("BA7816BF8F01CFEA414140DE5DAE2223B00361A396177A9CB410FF61F20015AD"));
  EXPECT_FALSE(is_sha256_hex("ba7816bf"));
  EXPECT_FALSE(is_sha256_hex(std::string(64, 'g')));
}

TEST(Acl, WithNoPasswordAnywhereEveryClientIsTheDefaultUser) {
  access_control open("", {});
  ASSERT_NE(open.at_connect(), nullptr);
  EXPECT_EQ(open.at_connect()->name, "default");
  EXPECT_TRUE(open.default_is_open());
  EXPECT_FALSE(open.protects());
  EXPECT_NE(open.authenticate("default", "anything"), nullptr);
  EXPECT_EQ(open.authenticate("app", "anything"), nullptr);
}

TEST(Acl, RequirepassGivesTheDefaultUserThatPassword) {
  access_control ac(sha256_hex("s3cret"), {user("app", "app-pass", false, {"app:*"})});
  EXPECT_EQ(ac.at_connect(), nullptr);
  EXPECT_TRUE(ac.protects());
  auto d = ac.authenticate("default", "s3cret");
  ASSERT_NE(d, nullptr);
  EXPECT_EQ(d->name, "default");
  EXPECT_TRUE(d->all_keys);
  EXPECT_EQ(ac.authenticate("default", "s3cret "), nullptr);
  EXPECT_EQ(ac.authenticate("default", "app-pass"), nullptr);  // another user's password
  auto a = ac.authenticate("app", "app-pass");
  ASSERT_NE(a, nullptr);
  EXPECT_EQ(a->name, "app");
  EXPECT_EQ(ac.authenticate("app", "s3cret"), nullptr);
  EXPECT_EQ(ac.authenticate("nobody", "s3cret"), nullptr);
}

TEST(Acl, UsersWithoutRequirepassDisableTheDefaultUser) {
  access_control ac("", {user("app", "app-pass", false, {"*"})});
  EXPECT_EQ(ac.at_connect(), nullptr);
  EXPECT_FALSE(ac.default_is_open());
  EXPECT_EQ(ac.authenticate("default", ""), nullptr);
  EXPECT_EQ(ac.authenticate("default", "app-pass"), nullptr);
  EXPECT_NE(ac.authenticate("app", "app-pass"), nullptr);
}

TEST(Acl, AReadOnlyUserRunsNoCommandThatWrites) {
  access_control ac("", {user("ro", "p", true, {"*"})});
  const auto& ro = *ac.authenticate("ro", "p");
  for (auto args : std::vector<std::vector<std::string>>{
         {"SET", "k", "v"}, {"del", "k"}, {"INCR", "k"}, {"MSET", "a", "1", "b", "2"},
         {"EXPIRE", "k", "1"}, {"FLUSHDB"}, {"GETDEL", "k"}, {"CLIENT", "KILL", "ID", "1"}})
    EXPECT_EQ(access(ro, args), denial::command) << args[0];
  for (auto args : std::vector<std::vector<std::string>>{
         {"GET", "k"}, {"MGET", "a", "b"}, {"TTL", "k"}, {"KEYS", "*"}, {"SCAN", "0"},
         {"PING"}, {"INFO"}, {"MULTI"}, {"EXEC"}, {"WATCH", "k"}, {"CLIENT", "ID"}})
    EXPECT_EQ(access(ro, args), denial::none) << args[0];
}

TEST(Acl, KeyPatternsLimitEveryKeyOfACommand) {
  access_control ac("", {user("app", "p", false, {"session:*", "cart:?"})});
  const auto& app = *ac.authenticate("app", "p");
  EXPECT_EQ(access(app, {"GET", "session:1"}), denial::none);
  EXPECT_EQ(access(app, {"SET", "cart:7", "v", "EX", "10"}), denial::none);
  EXPECT_EQ(access(app, {"SET", "cart:77", "v"}), denial::key);
  EXPECT_EQ(access(app, {"GET", "user:1"}), denial::key);
  EXPECT_EQ(access(app, {"MGET", "session:1", "session:2", "user:1"}), denial::key);
  // MSET's keys are every other argument: the values are not keys.
  EXPECT_EQ(access(app, {"MSET", "session:1", "user:1", "session:2", "x"}), denial::none);
  EXPECT_EQ(access(app, {"MSET", "session:1", "v", "user:1", "x"}), denial::key);
  EXPECT_EQ(access(app, {"WATCH", "session:1", "other"}), denial::key);
  // The whole keyspace is not its to list, count or empty.
  for (auto args : std::vector<std::vector<std::string>>{
         {"KEYS", "*"}, {"SCAN", "0"}, {"DBSIZE"}, {"FLUSHDB"}, {"FLUSHALL"},
         {"CLIENT", "KILL", "ID", "1"}})
    EXPECT_EQ(access(app, args), denial::command) << args[0];
  EXPECT_EQ(access(app, {"PING"}), denial::none);
}

TEST(Acl, NopermTextsAreRedis7s) {
  EXPECT_EQ(noperm_text(denial::command, "set"),
            "NOPERM this user has no permissions to run the 'set' command");
  EXPECT_EQ(noperm_text(denial::key, "get"),
            "NOPERM this user has no permissions to access one of the keys used as arguments");
  EXPECT_EQ(acl_command_name({"CLIENT", "Kill", "ID", "1"}), "client|kill");
  EXPECT_EQ(acl_command_name({"SeT", "k", "v"}), "set");
}

}  // namespace wtcache
