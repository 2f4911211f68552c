// Configuration: every mistake names its field.
#include <gtest/gtest.h>

#include <unistd.h>

#include <cstdlib>

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
protected_mode = false
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
  // A key TOML had to quote is named quoted (fuzz_config found an empty one
  // named as nothing at all).
  EXPECT_EQ(field_of_error("[[famespace]]\n [\"\"]\n"), "\"\"");
  EXPECT_EQ(field_of_error("[server]\n\"a.b\" = 1\n"), "server.\"a.b\"");
  EXPECT_EQ(field_of_error("[server]\n\"q\\\"\" = 1\n"), "server.\"q\\\"\"");
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
  EXPECT_EQ(redact_url("postgresql://app@db/app?sslmode=verify-full&sslpassword=k3y"),
            "postgresql://app@db/app?sslmode=verify-full&sslpassword=***");
  EXPECT_EQ(redact_url("postgresql://app@db/app?application_name=mypassword=x"),
            "postgresql://app@db/app?application_name=mypassword=x");
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
            "postgresql://u@h/db?connect_timeout=4&tcp_user_timeout=5000");
  EXPECT_EQ(with_connection_timeouts("postgresql://u@h/db?sslmode=require&connect_timeout=9", 3000ms),
            "postgresql://u@h/db?sslmode=require&connect_timeout=9&tcp_user_timeout=5000");
}

// pg_stat_activity names wtcached's connections by what they are for,
// unless the URL names them itself.
TEST(Config, PostgresUrlsGetAnApplicationNameUnlessTheyHaveOne) {
  EXPECT_EQ(with_application_name("postgresql://u@h/db?connect_timeout=4", "wtcached-worker"),
            "postgresql://u@h/db?connect_timeout=4&application_name=wtcached-worker");
  EXPECT_EQ(with_application_name("postgresql://u@h/db?application_name=shop", "wtcached-worker"),
            "postgresql://u@h/db?application_name=shop");
}

TEST(Config, WriteBehindNamespacesHaveTheirOwnOptions) {
  auto cfg = parse_config_text(R"(
[[namespace]]
prefix = "cart:"
table = "shopping_carts"
key_column = "cart_id"
value_column = "items"
mode = "write-behind"
batch_size = 100
flush_interval_ms = 20
writers = 3
max_queue_entries = 5000
max_queue_bytes = 1048576
low_watermark = 0.5
)", "t");
  auto& ns = cfg.namespaces.at(1);
  EXPECT_EQ(ns.mode, write_mode::write_behind);
  EXPECT_EQ(ns.batch_size, 100u);
  EXPECT_EQ(ns.flush_interval.count(), 20);
  EXPECT_EQ(ns.writers, 3u);
  EXPECT_EQ(ns.max_queue_entries, 5000u);
  EXPECT_EQ(ns.max_queue_bytes, 1048576u);
  EXPECT_DOUBLE_EQ(ns.low_watermark, 0.5);

  std::string base = "[[namespace]]\nprefix = \"c:\"\ntable = \"t\"\nkey_column = \"k\"\n"
                     "value_column = \"v\"\n";
  EXPECT_EQ(field_of_error(base + "mode = \"write-around\"\n"), "namespace[0].mode");
  EXPECT_EQ(field_of_error(base + "mode = \"write-behind\"\nbatch_size = 0\n"),
            "namespace[0].batch_size");
  EXPECT_EQ(field_of_error(base + "mode = \"write-behind\"\nlow_watermark = 2\n"),
            "namespace[0].low_watermark");
  // Write-behind options on a write-through namespace are a mistake, not a no-op.
  EXPECT_EQ(field_of_error(base + "batch_size = 10\n"), "namespace[0].batch_size");
  // A write-behind queue is named after its table: no sharing.
  EXPECT_EQ(field_of_error(base + "mode = \"write-behind\"\n" +
                           "[[namespace]]\nprefix = \"d:\"\ntable = \"t\"\nkey_column = \"k\"\n"
                           "value_column = \"v\"\n"),
            "namespace[1].table");
  EXPECT_EQ(field_of_error("[server]\nshutdown_grace_ms = -1\n"), "server.shutdown_grace_ms");
  EXPECT_EQ(field_of_error("[cache]\non_cache_failure = \"ignore\"\n"), "cache.on_cache_failure");
  EXPECT_EQ(field_of_error("[cache]\non_database_failure = \"x\"\n"), "cache.on_database_failure");
  EXPECT_EQ(field_of_error("[supervisor]\nbreaker_failures = 0\n"), "supervisor.breaker_failures");
  EXPECT_TRUE(parse_config_text("[cache]\non_cache_failure = \"fail\"\n", "t").refuse_writes_without_cache);
  // A write that waits out the dirty-key lease must still answer in time.
  EXPECT_EQ(field_of_error("[cache]\ndirty_lease_ms = 10\n"), "cache.dirty_lease_ms");
  EXPECT_EQ(field_of_error("[server]\nrequest_timeout_ms = 500\n[cache]\ndirty_lease_ms = 400\n"),
            "cache.dirty_lease_ms");
  EXPECT_EQ(parse_config_text("[cache]\ndirty_lease_ms = 250\n", "t").dirty_lease,
            std::chrono::milliseconds(250));
}

TEST(Config, WriteBehindAppliesOnlyMoveARowForward) {
  namespace_config ns;
  ns.prefix = "cart:";
  ns.table = "shopping_carts";
  ns.key_column = "cart_id";
  ns.value_column = "items";
  ns.type = value_type::jsonb;
  ns.touch_columns = {"updated_at"};
  auto sql = build_sql(ns);
  EXPECT_EQ(sql.apply_set,
            "INSERT INTO \"shopping_carts\" AS cur (\"cart_id\", \"items\", \"version\", "
            "\"updated_at\") VALUES ($1, $2, $3, now()) ON CONFLICT (\"cart_id\") DO UPDATE SET "
            "\"items\" = EXCLUDED.\"items\", \"version\" = EXCLUDED.\"version\", \"updated_at\" = "
            "EXCLUDED.\"updated_at\" WHERE cur.\"version\" IS NULL OR cur.\"version\" < "
            "EXCLUDED.\"version\" RETURNING \"items\"::text");
  EXPECT_EQ(sql.apply_del, "DELETE FROM \"shopping_carts\" WHERE \"cart_id\" = $1 AND "
                           "(\"version\" IS NULL OR \"version\" < $2)");
  // A batch: one statement for its SETs (replays give back the row as
  // stored), one for its DELs.
  auto batched = build_batch_apply(ns, "text", "jsonb");
  EXPECT_EQ(batched.sets,
            "WITH x AS (SELECT * FROM unnest($1::text[], $2::text[], $3::bigint[], $4::bigint[]) "
            "AS x(k, v, ver, e)), w AS (INSERT INTO \"shopping_carts\" AS cur (\"cart_id\", "
            "\"items\", \"version\", \"updated_at\") SELECT x.k::text, x.v::jsonb, x.ver, now() "
            "FROM x ON CONFLICT (\"cart_id\") DO UPDATE SET \"items\" = EXCLUDED.\"items\", "
            "\"version\" = EXCLUDED.\"version\", \"updated_at\" = EXCLUDED.\"updated_at\" WHERE "
            "cur.\"version\" IS NULL OR cur.\"version\" < EXCLUDED.\"version\" RETURNING "
            "cur.\"version\" AS ver, cur.\"items\"::text AS stored) SELECT ver, stored FROM w "
            "UNION ALL SELECT r.\"version\", r.\"items\"::text FROM x JOIN \"shopping_carts\" AS r "
            "ON r.\"cart_id\" = x.k::text AND r.\"version\" = x.ver");
  EXPECT_EQ(batched.dels,
            "DELETE FROM \"shopping_carts\" AS cur USING unnest($1::text[], $2::bigint[]) AS "
            "x(k, ver) WHERE cur.\"cart_id\" = x.k::text AND (cur.\"version\" IS NULL OR "
            "cur.\"version\" < x.ver)");
  ns.expiry = expiry_mode::value;
  ns.expires_column = "expires_at";
  EXPECT_NE(build_batch_apply(ns, "text", "jsonb").sets.find(
              "x.ver, now(), to_timestamp(x.e / 1000.0::float8) FROM x"),
            std::string::npos);
  // Many DELs of a text-keyed namespace: one statement, a count and a
  // tombstone version per key in order.
  namespace_config kv;
  kv.table = "wtcache_kv";
  kv.key_column = "key";
  kv.expiry = expiry_mode::value;
  EXPECT_EQ(build_batch_remove(kv),
            "WITH x AS MATERIALIZED (SELECT k, i FROM unnest($1::text[]) WITH ORDINALITY AS x(k, i)), "
            "d AS (DELETE FROM \"wtcache_kv\" AS cur USING x WHERE cur.\"key\" = x.k RETURNING x.i, "
            "(cur.\"expires_at\" IS NULL OR cur.\"expires_at\" > clock_timestamp()) AS live) "
            "SELECT CASE WHEN d.live THEN 1 ELSE 0 END, nextval('wtcache_version') FROM x LEFT JOIN "
            "d ON d.i = x.i ORDER BY x.i");
}

namespace {

// parse_command_line over a list of arguments (argv[0] added).
wtcache::command_line parse_args(std::vector<std::string> args) {
  args.insert(args.begin(), "wtcached");
  std::vector<char*> argv;
  for (auto& a : args)
    argv.push_back(a.data());
  return wtcache::parse_command_line(static_cast<int>(argv.size()), argv.data());
}

std::string cli_error(std::vector<std::string> args) {
  try {
    parse_args(std::move(args));
  } catch (const wtcache::config_error& e) {
    return e.what();
  }
  return "<no error>";
}

}  // namespace

TEST(CommandLine, TakesOptionsInBothFormsAndASubcommandAnywhere) {
  auto cl = parse_args({"check", "--config", "a.toml", "--redis=redis://h:1", "--log-level",
                        "debug", "--http-listen", ""});
  EXPECT_EQ(cl.subcommand, "check");
  EXPECT_EQ(cl.config_file, "a.toml");
  EXPECT_EQ(cl.redis_url, "redis://h:1");
  EXPECT_EQ(cl.log_level, "debug");
  EXPECT_EQ(cl.http_listen, "");  // given empty: the HTTP endpoint is off
  EXPECT_FALSE(cl.postgres_url.has_value());
  auto serve = parse_args({"--listen", "0.0.0.0:7000"});
  EXPECT_EQ(serve.subcommand, "");
  EXPECT_EQ(serve.listen, "0.0.0.0:7000");
  EXPECT_FALSE(serve.http_listen.has_value());
  EXPECT_TRUE(parse_args({"--help"}).help);
  EXPECT_TRUE(parse_args({"migrate", "--version"}).version);
  // Options before the subcommand too.
  auto before = parse_args({"--config", "b.toml", "migrate"});
  EXPECT_EQ(before.subcommand, "migrate");
  EXPECT_EQ(before.config_file, "b.toml");
  // An option given twice: the last one counts.
  EXPECT_EQ(parse_args({"--listen", "a:1", "--listen", "b:2"}).listen, "b:2");
  // "--name=" is an empty value, never the next argument.
  auto empty = parse_args({"--http-listen=", "--redis", "redis://h:1"});
  EXPECT_EQ(empty.http_listen, "");
  EXPECT_EQ(empty.redis_url, "redis://h:1");
  EXPECT_EQ(parse_args({"--http-listen="}).http_listen, "");
}

TEST(CommandLine, EveryMistakeNamesTheOptionInOneLine) {
  EXPECT_EQ(cli_error({"--frobnicate"}), "--frobnicate: unknown option (see wtcached --help)");
  EXPECT_EQ(cli_error({"--frobnicate=3"}), "--frobnicate: unknown option (see wtcached --help)");
  EXPECT_EQ(cli_error({"serve"}), "serve: unknown command (expected: migrate or check)");
  EXPECT_EQ(cli_error({"--listen"}), "--listen: missing value");
  EXPECT_EQ(cli_error({"--log-format", "xml"}), "--log-format: expected text or json, got \"xml\"");
  EXPECT_EQ(cli_error({"--log-level", "loud"}),
            "--log-level: expected trace, debug, info, warn, error or off, got \"loud\"");
}

TEST(Config, ExpiryIsANamespaceSetting) {
  auto ns = "[[namespace]]\nprefix = \"s:\"\ntable = \"t\"\nkey_column = \"k\"\nvalue_column = \"v\"\n";
  auto cfg = parse_config_text(std::string(ns) + "expiry = \"value\"\n", "t");
  EXPECT_EQ(cfg.namespaces[0].expiry, expiry_mode::value);  // the default table behaves as Redis
  EXPECT_EQ(cfg.namespaces[1].expiry, expiry_mode::value);
  EXPECT_EQ(cfg.namespaces[1].expires_column, "expires_at");
  EXPECT_EQ(parse_config_text(ns, "t").namespaces[1].expiry, expiry_mode::cache);  // mapped: cache
  EXPECT_EQ(field_of_error(std::string(ns) + "expiry = \"forever\"\n"), "namespace[0].expiry");
  EXPECT_EQ(field_of_error(std::string(ns) + "expires_column = \"e\"\n"),
            "namespace[0].expires_column");
  auto behind = parse_config_text(std::string(ns) + "expiry = \"value\"\nmode = \"write-behind\"\n", "t");
  EXPECT_EQ(behind.namespaces[1].expiry, expiry_mode::value);
  EXPECT_EQ(behind.namespaces[1].mode, write_mode::write_behind);
  EXPECT_EQ(field_of_error("[server]\nallow_flush = 1\n"), "server.allow_flush");
  EXPECT_TRUE(parse_config_text("[server]\nallow_flush = true\n", "t").allow_flush);
  EXPECT_EQ(field_of_error("[cache]\nreap_batch = 0\n"), "cache.reap_batch");
}

// A configuration a host builds in code is checked as a file is, each
// mistake naming its field.
TEST(Config, AConfigBuiltInCodeIsCheckedFieldByField) {
  auto field_of = [](const wtcache::config& c) {
    try {
      wtcache::validate_config(c);
    } catch (const wtcache::config_error& e) {
      return e.field;
    }
    return std::string("(valid)");
  };
  wtcache::config c;
  EXPECT_EQ(field_of(c), "namespaces[0]");  // no default namespace
  c.namespaces.push_back(wtcache::default_namespace());
  EXPECT_EQ(field_of(c), "(valid)");
  wtcache::namespace_config ns;
  ns.prefix = "p:";
  ns.table = "t; DROP TABLE x";
  c.namespaces.push_back(ns);
  EXPECT_EQ(field_of(c), "namespaces[1].table");
  c.namespaces[1].table = "t";
  c.namespaces[1].value_column = "key";
  EXPECT_EQ(field_of(c), "namespaces[1].value_column");  // the key column's name
  c.namespaces[1].value_column = "value";
  EXPECT_EQ(field_of(c), "(valid)");
  c.namespaces.push_back(c.namespaces[1]);
  EXPECT_EQ(field_of(c), "namespaces[2].prefix");
  c.namespaces.pop_back();
  c.shards = 0;
  EXPECT_EQ(field_of(c), "shards");
}

TEST(Config, PasswordsAreKeptOnlyAsDigests) {
  auto cfg = parse_config_text("[server]\nrequirepass = \"s3cret\"\n", "t");
  EXPECT_EQ(cfg.requirepass_sha256, sha256_hex("s3cret"));
  auto digest = sha256_hex("app-pass");
  cfg = parse_config_text("[[user]]\nname = \"app\"\npassword_sha256 = \"" + digest +
                            "\"\nread_only = true\nkeys = [\"session:*\", \"cart:*\"]\n",
                          "t");
  ASSERT_EQ(cfg.users.size(), 1u);
  EXPECT_EQ(cfg.users[0].name, "app");
  EXPECT_EQ(cfg.users[0].password_sha256, digest);
  EXPECT_TRUE(cfg.users[0].read_only);
  EXPECT_EQ(cfg.users[0].keys, (std::vector<std::string>{"session:*", "cart:*"}));
  // Keys default to all of them, as Redis's ~*.
  cfg = parse_config_text("[[user]]\nname = \"b\"\npassword_sha256 = \"" + digest + "\"\n", "t");
  EXPECT_EQ(cfg.users[0].keys, (std::vector<std::string>{"*"}));
}

TEST(Config, APasswordCanComeFromAFileOrTheEnvironment) {
  char path[] = "/tmp/wtcache-pass-XXXXXX";
  int fd = ::mkstemp(path);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(::write(fd, "from-file\n", 10), 10);
  ::close(fd);
  auto cfg = parse_config_text(std::string("[server]\nrequirepass_file = \"") + path + "\"\n", "t");
  EXPECT_EQ(cfg.requirepass_sha256, sha256_hex("from-file"));  // the newline is not part of it
  cfg = parse_config_text(std::string("[[user]]\nname = \"u\"\npassword_file = \"") + path + "\"\n",
                          "t");
  EXPECT_EQ(cfg.users[0].password_sha256, sha256_hex("from-file"));
  ::unlink(path);
  ::setenv("WTCACHE_TEST_PASSWORD", "from-env", 1);
  cfg = parse_config_text("[[user]]\nname = \"u\"\npassword_env = \"WTCACHE_TEST_PASSWORD\"\n", "t");
  EXPECT_EQ(cfg.users[0].password_sha256, sha256_hex("from-env"));
  ::unsetenv("WTCACHE_TEST_PASSWORD");
}

TEST(Config, SecurityMistakesNameTheirField) {
  auto digest = sha256_hex("p");
  EXPECT_EQ(field_of_error("[server]\nrequirepass = \"\"\n"), "(no error)");  // none, as Redis
  EXPECT_EQ(field_of_error("[server]\nrequirepass = \"a\"\nrequirepass_env = \"X\"\n"),
            "server.requirepass_env");
  EXPECT_EQ(field_of_error("[server]\nrequirepass_sha256 = \"abc\"\n"),
            "server.requirepass_sha256");
  EXPECT_EQ(field_of_error("[server]\nrequirepass_env = \"WTCACHE_NO_SUCH_VARIABLE\"\n"),
            "server.requirepass_env");
  EXPECT_EQ(field_of_error("[server]\nrequirepass_file = \"/nonexistent/pass\"\n"),
            "server.requirepass_file");
  EXPECT_EQ(field_of_error("[[user]]\nname = \"u\"\n"), "user[0].password_sha256");
  // A user's password is never plain text in the file.
  EXPECT_EQ(field_of_error("[[user]]\nname = \"u\"\npassword = \"p\"\n"), "user[0].password_sha256");
  EXPECT_EQ(field_of_error("[[user]]\npassword_sha256 = \"" + digest + "\"\n"), "user[0].name");
  EXPECT_EQ(field_of_error("[[user]]\nname = \"default\"\npassword_sha256 = \"" + digest + "\"\n"),
            "user[0].name");
  EXPECT_EQ(field_of_error("[[user]]\nname = \"u\"\npassword_sha256 = \"" + digest +
                           "\"\n[[user]]\nname = \"u\"\npassword_sha256 = \"" + digest + "\"\n"),
            "user[1].name");
  EXPECT_EQ(field_of_error("[[user]]\nname = \"u\"\npassword_sha256 = \"" + digest +
                           "\"\nkeys = \"*\"\n"),
            "user[0].keys");
  EXPECT_EQ(field_of_error("[server]\nmaxclients = 0\n"), "server.maxclients");
  EXPECT_EQ(field_of_error("[server]\ntimeout = -1\n"), "server.timeout");
}

TEST(Config, ProtectedModeRefusesANonLoopbackListenerWithoutAPassword) {
  EXPECT_EQ(field_of_error("[server]\nlisten = \"0.0.0.0:6380\"\n"), "server.protected_mode");
  EXPECT_EQ(field_of_error("[server]\nlisten = \"10.1.2.3:6380\"\n"), "server.protected_mode");
  EXPECT_EQ(field_of_error("[server]\nlisten = \"127.0.0.2:6380\"\n"), "(no error)");
  EXPECT_EQ(field_of_error("[server]\nlisten = \"localhost:6380\"\n"), "(no error)");
  EXPECT_EQ(field_of_error("[server]\nlisten = \"0.0.0.0:6380\"\nrequirepass = \"p\"\n"),
            "(no error)");
  EXPECT_EQ(field_of_error("[server]\nlisten = \"0.0.0.0:6380\"\nprotected_mode = false\n"),
            "(no error)");
  // The flag moves the listener after the file is read: checked again.
  auto cl = parse_args({"--listen", "0.0.0.0:6380"});
  try {
    load_config(cl);
    ADD_FAILURE() << "started without a password on 0.0.0.0";
  } catch (const config_error& e) {
    EXPECT_EQ(e.field, "server.protected_mode");
    EXPECT_NE(std::string(e.what()).find("0.0.0.0:6380"), std::string::npos) << e.what();
  }
}

TEST(Config, ProtectedModeJudgesTheListenerTheFlagsLeave) {
  char path[] = "/tmp/wtcache-config-XXXXXX";
  int fd = ::mkstemp(path);
  ASSERT_GE(fd, 0);
  std::string text = "[server]\nlisten = \"0.0.0.0:6380\"\n";
  ASSERT_EQ(::write(fd, text.data(), text.size()), static_cast<ssize_t>(text.size()));
  ::close(fd);
  command_line cl;
  cl.config_file = path;
  try {
    load_config(cl);
    ADD_FAILURE() << "0.0.0.0 with no password was accepted";
  } catch (const config_error& e) {
    EXPECT_EQ(e.field, "server.protected_mode");
  }
  cl.listen = "127.0.0.1:6380";  // the flag moves the listener to loopback
  EXPECT_EQ(load_config(cl).listen_host, "127.0.0.1");
  ::unlink(path);
}
