// Configuration: every mistake names its field.
#include <gtest/gtest.h>

#include "app/config.hpp"

using namespace wtcache;

namespace {

std::string field_of_error(const std::string& toml) {
  try {
    parse_config_text(toml, "test.toml");
  } catch (const config_error& e) {
    return e.field;
  }
  return "(no error)";
}

}  // namespace

TEST(Config, DefaultsNeedNoFile) {
  auto cfg = parse_config_text("", "none");
  EXPECT_EQ(cfg.listen_port, 6380);
  EXPECT_EQ(cfg.namespaces.size(), 1u);
  EXPECT_EQ(cfg.namespaces[0].table, "wtcache_kv");
}

TEST(Config, TheSampleFileParses) {
  auto cfg = parse_config_text(R"(
[server]
listen = "0.0.0.0:7000"
[[namespace]]
prefix = "session:"
table = "user_sessions"
key_column = "user_id"
value_column = "session_data"
value_type = "jsonb"
ttl = 1800
touch_columns = ["last_activity", "updated_at"]
)", "t");
  EXPECT_EQ(cfg.listen_host, "0.0.0.0");
  EXPECT_EQ(cfg.listen_port, 7000);
  ASSERT_EQ(cfg.namespaces.size(), 2u);
  EXPECT_EQ(cfg.namespaces[1].type, value_type::jsonb);
  EXPECT_EQ(cfg.namespaces[1].ttl.count(), 1800000);
  EXPECT_EQ(cfg.namespaces[1].touch_columns.size(), 2u);
}

TEST(Config, MistakesNameTheirField) {
  EXPECT_EQ(field_of_error("[server]\nlisten_port = 1\n"), "server.listen_port");
  EXPECT_EQ(field_of_error("[server]\nshards = 0\n"), "server.shards");
  EXPECT_EQ(field_of_error("[redis]\nurl = \"http://x\"\n"), "redis.url");
  EXPECT_EQ(field_of_error("[postgres]\nurl = \"mysql://x\"\n"), "postgres.url");
  EXPECT_EQ(field_of_error("[bogus]\n"), "bogus");
  EXPECT_EQ(field_of_error("[[namespace]]\nprefix=\"a:\"\ntable=\"t; drop\"\nkey_column=\"k\"\nvalue_column=\"v\"\n"),
            "namespace[0].table");
  EXPECT_EQ(field_of_error("[[namespace]]\nprefix=\"a:\"\ntable=\"t\"\nkey_column=\"k\"\nvalue_column=\"v\"\nvalue_type=\"xml\"\n"),
            "namespace[0].value_type");
  EXPECT_EQ(field_of_error("[[namespace]]\nprefix=\"a:\"\ntable=\"t\"\nkey_column=\"k\"\nvalue_column=\"v\"\ntouch_columns=[\"ok\", \"1bad\"]\n"),
            "namespace[0].touch_columns[1]");
  EXPECT_EQ(field_of_error("[[namespace]]\nprefix=\"a:\"\ntable=\"t\"\nkey_column=\"k\"\nvalue_column=\"v\"\ncolour=1\n"),
            "namespace[0].colour");
  EXPECT_EQ(field_of_error("this is not toml"), "test.toml");
  EXPECT_EQ(field_of_error("[server]\nrequest_timeout_ms = 1000\n"), "server.request_timeout_ms");
  EXPECT_EQ(field_of_error("[[namespace]]\nprefix=\"a:\"\ntable=\"t\"\nkey_column=\"ID\"\nvalue_column=\"id\"\n"),
            "namespace[0].value_column");
  EXPECT_EQ(field_of_error("[[namespace]]\nprefix=\"a:\"\ntable=\"t\"\nkey_column=\"k\"\nvalue_column=\"v\"\ntouch_columns=[\"u\",\"u\"]\n"),
            "namespace[0].touch_columns");
}

TEST(Config, RedisUrls) {
  auto ep = parse_redis_url("redis://:secret@db.local:7000/2", "f");
  EXPECT_EQ(ep.host, "db.local");
  EXPECT_EQ(ep.port, 7000);
  EXPECT_EQ(ep.password, "secret");
  EXPECT_EQ(ep.db, 2);
  EXPECT_EQ(parse_redis_url("redis://alice:pw@h", "f").user, "alice");
  EXPECT_THROW(parse_redis_url("redis://host:99999", "f"), config_error);
  EXPECT_THROW(parse_redis_url("redis://", "f"), config_error);
}

TEST(Config, PasswordsAreRedacted) {
  EXPECT_EQ(redact_url("postgresql://u:pw@h:5432/db"), "postgresql://u:***@h:5432/db");
  EXPECT_EQ(redact_url("redis://:pw@h:6379"), "redis://:***@h:6379");
  EXPECT_EQ(redact_url("redis://h:6379"), "redis://h:6379");
  EXPECT_EQ(redact_url("postgresql://app@db/app?password=s3cret&sslmode=require"),
            "postgresql://app@db/app?password=***&sslmode=require");
  try {
    check_postgres_url("postgresql://app:s3cr%zz@db/app", "--postgres");
    ADD_FAILURE() << "accepted";
  } catch (const config_error& e) {
    EXPECT_EQ(std::string(e.what()).find("s3cr"), std::string::npos) << e.what();
  }
}

TEST(Config, IdentifiersAreQuotedAndFolded) {
  EXPECT_TRUE(is_plain_identifier("user_sessions"));
  EXPECT_FALSE(is_plain_identifier("user-sessions"));
  EXPECT_FALSE(is_plain_identifier("1abc"));
  EXPECT_FALSE(is_plain_identifier("a\"b"));
  EXPECT_EQ(quote_identifier("UserSessions"), "\"usersessions\"");
}

TEST(Config, PostgresUrlsGetConnectionTimeouts) {
  using namespace std::chrono_literals;
  EXPECT_EQ(with_connection_timeouts("postgresql://u@h/db", 3000ms),
            "postgresql://u@h/db?connect_timeout=3&tcp_user_timeout=5000");
  EXPECT_EQ(with_connection_timeouts("postgresql://u@h/db?sslmode=require&connect_timeout=9", 3000ms),
            "postgresql://u@h/db?sslmode=require&connect_timeout=9&tcp_user_timeout=5000");
}
