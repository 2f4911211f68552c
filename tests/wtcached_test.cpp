// The wtcached binary as a user runs it: its exit status and messages for
// bad configuration, `wtcached migrate`, and the embedded default.
#include <sys/resource.h>
#include <sys/wait.h>

#include <atomic>
#include <thread>

#include <filesystem>
#include <fstream>
#include <sstream>

#include <algorithm>

#include <gtest/gtest.h>

#include "app/embedded_servers.hpp"
#include "core/json.hpp"
#include "core/version.hpp"
#include "tests/support/http.hpp"
#include "tests/support/resp_client.hpp"
#include "tests/support/servers.hpp"
#include "tests/support/text.hpp"

using namespace wtcache;
using namespace wtcache::test;
using namespace std::chrono_literals;
namespace fs = std::filesystem;

namespace {

struct run_result {
  int status = -1;
  std::string output;
};

class scratch_dir {
public:
  scratch_dir() {
    char tmpl[] = "/tmp/wtcached-test-XXXXXX";
    path = ::mkdtemp(tmpl);
    fs::permissions(path, fs::perms(0755));
  }
  ~scratch_dir() { fs::remove_all(path); }
  std::string file(const std::string& name, const std::string& text = {}) const {
    auto p = path + "/" + name;
    if (!text.empty())
      std::ofstream(p) << text;
    return p;
  }
  std::string path;
};

// Runs wtcached to completion (it must exit within 30 s).
run_result run(std::vector<std::string> args, const scratch_dir& dir) {
  args.insert(args.begin(), WTCACHED_PATH);
  if (args.size() < 2 || args[1] != "migrate")
    args.insert(args.end(), {"--data-dir", dir.path + "/var"});
  // Not the default 9380: tests run side by side.
  if (std::find(args.begin(), args.end(), "--http-listen") == args.end())
    args.insert(args.end(), {"--http-listen", "127.0.0.1:0"});
  auto log = dir.file("run.log");
  fs::remove(log);
  child_process p;
  p.start(args, log);
  int status = 0;
  if (!p.wait_for(30s, status)) {
    p.stop(SIGKILL);
    return {-1, slurp(log)};
  }
  return {WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status), slurp(log)};
}

// Starts wtcached and waits for its banner; false (with the log) if it
// never came.
::testing::AssertionResult serve(child_process& p, const std::vector<std::string>& argv,
                                 const std::string& log) {
  p.start(argv, log);
  if (eventually([&] { return slurp(log).find("try it") != std::string::npos; }, 60s))
    return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << "no banner; log:\n" << slurp(log);
}

std::string with_namespace(const std::string& table) {
  return "[[namespace]]\nprefix = \"p:\"\ntable = \"" + table +
         "\"\nkey_column = \"sku\"\nvalue_column = \"doc\"\nvalue_type = \"jsonb\"\n";
}

}  // namespace

TEST(Wtcached, InvalidConfigurationExitsWithStatus2AndNamesTheField) {
  scratch_dir d;
  struct expectation {
    std::vector<std::string> args;
    std::string says;
  };
  auto unknown_key = d.file("a.toml", "[server]\nlisten = \"127.0.0.1:0\"\ncolour = \"blue\"\n");
  auto bad_ident = d.file("b.toml", with_namespace("products; DROP TABLE x"));
  for (auto& e : std::vector<expectation>{
         {{"--config", unknown_key}, "server.colour: unknown key"},
         {{"--config", bad_ident}, "namespace[0].table"},
         {{"--redis", "http://localhost"}, "--redis: expected redis://"},
         {{"--postgres", "postgres://u@h:notaport/db"}, "--postgres"},
         {{"--listen", "nowhere"}, "--listen: expected HOST:PORT"},
         {{"--frobnicate"}, "--frobnicate: unknown option"},
         {{"--config", d.path + "/missing.toml"}, "--config: cannot read"},
         {{"--listen", "0.0.0.0:0"},
          "server.protected_mode: refusing to listen on 0.0.0.0:0 with no password"},
       }) {
    auto r = run(e.args, d);
    EXPECT_EQ(r.status, 2) << r.output;
    EXPECT_NE(r.output.find(e.says), std::string::npos) << r.output;
    EXPECT_EQ(std::count(r.output.begin(), r.output.end(), '\n'), 1) << r.output;
  }
}

TEST(Wtcached, AnUnknownTableIsAConfigurationError) {
  scratch_dir d;
  auto cfg = d.file("c.toml", with_namespace("no_such_table"));
  auto r = run({"--config", cfg, "--listen", "127.0.0.1:0", "--redis", servers::get().redis_url(),
                "--postgres", servers::get().postgres_url()},
               d);
  EXPECT_EQ(r.status, 2) << r.output;
  EXPECT_NE(r.output.find("namespace[0].table: table \"no_such_table\" does not exist"),
            std::string::npos)
    << r.output;
}

// `wtcached check` names what is wrong and says so in its exit status; with
// everything in place it reports each backend and namespace as ok.
TEST(Wtcached, CheckReportsAMissingTableAndPassesWhenAllIsThere) {
  scratch_dir d;
  auto backends = std::vector<std::string>{"--redis", servers::get().redis_url(), "--postgres",
                                           servers::get().postgres_url()};
  auto missing = d.file("c.toml", with_namespace("no_such_table"));
  auto args = std::vector<std::string>{"check", "--config", missing};
  args.insert(args.end(), backends.begin(), backends.end());
  auto r = run(args, d);
  EXPECT_EQ(r.status, 1) << r.output;
  EXPECT_NE(r.output.find("namespace FAILED p: -> no_such_table: namespace[0].table: table "
                          "\"no_such_table\" does not exist in the database"),
            std::string::npos)
    << r.output;
  EXPECT_NE(r.output.find("  redis     ok     "), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("1 check(s) failed"), std::string::npos) << r.output;

  args = {"check"};
  args.insert(args.end(), backends.begin(), backends.end());
  r = run(args, d);
  EXPECT_EQ(r.status, 0) << r.output;
  EXPECT_NE(r.output.find("  postgres  ok     "), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("all checks passed"), std::string::npos) << r.output;

  // Redis not there: the check fails on it, and says where it looked.
  args = {"check", "--redis", "redis://127.0.0.1:" + std::to_string(free_loopback_port()),
          "--postgres", servers::get().postgres_url()};
  r = run(args, d);
  EXPECT_EQ(r.status, 1) << r.output;
  EXPECT_NE(r.output.find("  redis     FAILED redis://127.0.0.1:"), std::string::npos) << r.output;
}

TEST(Wtcached, VersionAndHelpListEveryOptionWithItsDefault) {
  scratch_dir d;
  auto v = run({"--version"}, d);
  EXPECT_EQ(v.status, 0);
  EXPECT_EQ(v.output, "wtcached " + std::string(wtcache::version()) + "\n");
  auto h = run({"--help"}, d);
  EXPECT_EQ(h.status, 0);
  for (const char* says :
       {"--config FILE", "--listen HOST:PORT", "default 127.0.0.1:6380", "--http-listen",
        "default 127.0.0.1:9380", "--redis URL", "--postgres URL", "--data-dir DIR",
        "default ./var", "--log-level LEVEL", "--log-format FORMAT", "--version",
        "wtcached check", "wtcached migrate", "shards = 1", "[http]       listen",
        "pool_size = 4", "on_cache_failure = \"bypass\"", "breaker_failures = 5"})
    EXPECT_NE(h.output.find(says), std::string::npos) << says << "\n" << h.output;
  auto bad = run({"--log-format", "xml"}, d);
  EXPECT_EQ(bad.status, 2);
  EXPECT_NE(bad.output.find("--log-format: expected text or json"), std::string::npos) << bad.output;
}

// Passwords in both URLs (a Redis ACL user, and PostgreSQL's, which trust
// authentication ignores), debug logs in JSON, some traffic and a stop: no
// line carries either password, and every log line is one JSON object.
TEST(Wtcached, JsonLogsCarryNoPasswordAtAnyLevel) {
  scratch_dir d;
  resp_client admin(servers::get().redis_port());
  ASSERT_EQ(admin.cmd({"ACL", "SETUSER", "wtc_pw_user", "on", ">RedisPw-7c1x", "~*", "&*", "+@all"}).str,
            "OK");
  auto redis_url = "redis://wtc_pw_user:RedisPw-7c1x@127.0.0.1:" +
                   std::to_string(servers::get().redis_port());
  auto pg_url = "postgresql://wtcache:PgPw-3b9y@127.0.0.1:" +
                std::to_string(servers::get().postgres.port()) + "/wtcache";
  auto log = d.file("serve.log");
  uint16_t port = free_loopback_port();
  child_process p;
  ASSERT_TRUE(serve(p, {WTCACHED_PATH, "--listen", "127.0.0.1:" + std::to_string(port),
                        "--http-listen", "127.0.0.1:0", "--redis", redis_url, "--postgres", pg_url,
                        "--log-level", "debug", "--log-format", "json"},
                    log));
  {
    resp_client c(port);
    ASSERT_EQ(c.cmd({"SET", "pw:k", "v"}).str, "OK");
    EXPECT_EQ(c.cmd({"GET", "pw:k"}).str, "v");
  }
  EXPECT_EQ(p.stop(SIGTERM), 0);
  admin.cmd({"ACL", "DELUSER", "wtc_pw_user"});
  auto out = slurp(log);
  EXPECT_EQ(out.find("RedisPw-7c1x"), std::string::npos) << out;
  EXPECT_EQ(out.find("PgPw-3b9y"), std::string::npos) << out;
  EXPECT_NE(out.find("redis://wtc_pw_user:***@"), std::string::npos) << out;
  std::istringstream lines(out);
  std::string line;
  int json_lines = 0;
  while (std::getline(lines, line)) {
    if (line.empty() || line[0] != '{')
      continue;  // the banner, on stdout
    ++json_lines;
    EXPECT_EQ(wtcache::json_error(line), std::nullopt) << line;
    EXPECT_EQ(line.rfind("{\"time\":\"", 0), 0u) << line;
    EXPECT_NE(line.find("\"level\":\""), std::string::npos) << line;
  }
  EXPECT_GE(json_lines, 2) << out;  // the start-up summary and the stop, at least
  EXPECT_NE(out.find("\"msg\":\"wtcached " + std::string(wtcache::version()) + " serving RESP on"), std::string::npos) << out;
}

TEST(Wtcached, NeverPrintsAPassword) {
  scratch_dir d;
  auto url = "redis://:hunter2secret@127.0.0.1:" + std::to_string(servers::get().redis_port());
  auto r = run({"--listen", "127.0.0.1:0", "--redis", url, "--postgres", servers::get().postgres_url()}, d);
  EXPECT_EQ(r.status, 2) << r.output;
  EXPECT_EQ(r.output.find("hunter2secret"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("redis://:***@"), std::string::npos) << r.output;
}

TEST(Wtcached, RefusesATableWithoutVersionColumnUntilMigrated) {
  scratch_dir d;
  sql("CREATE TABLE products (sku text PRIMARY KEY, doc jsonb NOT NULL)");
  sql("INSERT INTO products VALUES ('a1', '{\"n\": 1}')");
  auto cfg = d.file("p.toml", with_namespace("products"));
  std::vector<std::string> common = {"--config", cfg, "--redis", servers::get().redis_url(),
                                     "--postgres", servers::get().postgres_url()};
  auto serve_args = common;
  serve_args.insert(serve_args.end(), {"--listen", "127.0.0.1:0"});
  auto refused = run(serve_args, d);
  EXPECT_EQ(refused.status, 2) << refused.output;
  EXPECT_NE(refused.output.find("table \"products\" has no version column \"version\"; add it "
                                "with: wtcached migrate"),
            std::string::npos)
    << refused.output;
  EXPECT_EQ(sql("SELECT 1 FROM information_schema.columns WHERE table_name = 'products' "
                "AND column_name = 'version'").size(), 0u);  // never altered by the service

  auto migrate = common;
  migrate.insert(migrate.begin(), "migrate");
  auto migrated = run(migrate, d);
  EXPECT_EQ(migrated.status, 0) << migrated.output;
  EXPECT_NE(migrated.output.find("products: added version column \"version\""), std::string::npos)
    << migrated.output;
  auto again = run(migrate, d);
  EXPECT_NE(again.output.find("already present"), std::string::npos) << again.output;

  // Now it starts, and the existing row reads through.
  auto log = d.file("serve.log");
  uint16_t port = free_loopback_port();
  child_process p;
  std::vector<std::string> argv = {WTCACHED_PATH};
  argv.insert(argv.end(), common.begin(), common.end());
  argv.insert(argv.end(), {"--listen", "127.0.0.1:" + std::to_string(port), "--http-listen",
                           "127.0.0.1:0"});
  ASSERT_TRUE(serve(p, argv, log));
  resp_client c(port);
  EXPECT_EQ(c.cmd({"GET", "p:a1"}).str, "{\"n\": 1}");
  EXPECT_EQ(p.stop(SIGTERM), 0);
}

// The README's first command, as a new user meets it: no Redis or PostgreSQL
// given, so wtcached starts its own, and the data survives a restart.
TEST(Wtcached, EmbeddedDefaultRunsItsOwnServersAndKeepsTheData) {
  scratch_dir d;
  auto log = d.file("serve.log");
  uint16_t port = free_loopback_port();
  uint16_t http_port = free_loopback_port();  // not 9380: tests run side by side
  std::vector<std::string> argv = {WTCACHED_PATH, "--config", WTCACHE_SOURCE_DIR "/config/wtcache.toml",
                                   "--data-dir", d.path + "/var", "--listen",
                                   "127.0.0.1:" + std::to_string(port), "--http-listen",
                                   "127.0.0.1:" + std::to_string(http_port)};
  auto redis_port_of = [&](const std::string& text) {
    auto pos = text.find("redis:    redis://127.0.0.1:");
    return static_cast<uint16_t>(std::stoi(text.substr(pos + 28)));
  };
  {
    child_process p;
    ASSERT_TRUE(serve(p, argv, log));
    auto banner = slurp(log);
    EXPECT_NE(banner.find("(embedded)"), std::string::npos) << banner;
    EXPECT_NE(banner.find("redis-cli -p " + std::to_string(port)), std::string::npos) << banner;
    resp_client c(port);
    ASSERT_EQ(c.cmd({"SET", "session:42", "{\"cart\":[1]}"}).str, "OK");
    auto redis_port = redis_port_of(banner);
    resp_client redis(redis_port);
    ASSERT_EQ(redis.cmd({"FLUSHALL"}).str, "OK");
    EXPECT_EQ(c.cmd({"GET", "session:42"}).str, "{\"cart\": [1]}");  // a miss, then filled
    EXPECT_EQ(c.cmd({"GET", "session:42"}).str, "{\"cart\": [1]}");  // a hit
    // What an operator sees: the banner names the endpoint, which shows the
    // hit ratio and the latencies.
    EXPECT_NE(banner.find("metrics:  http://127.0.0.1:" + std::to_string(http_port) + "/metrics"),
              std::string::npos) << banner;
    auto metrics = http_get(http_port, "/metrics");
    ASSERT_EQ(metrics.status, 200);
    EXPECT_EQ(metric(metrics.body, "wtcache_cache_hit_ratio{namespace=\"user_sessions\"}"), 0.5)
      << metrics.body;
    EXPECT_EQ(metric(metrics.body, "wtcache_command_duration_seconds_count{command=\"get\"}"), 2);
    EXPECT_EQ(metric(metrics.body, "wtcache_command_duration_seconds_count{command=\"set\"}"), 1);
    EXPECT_EQ(http_get(http_port, "/readyz").status, 200);
    // A second wtcached on the same data directory (here `check`) is told
    // whose servers those are, and how to check them instead.
    auto second = run({"check", "--config", WTCACHE_SOURCE_DIR "/config/wtcache.toml"}, d);
    EXPECT_EQ(second.status, 1) << second.output;
    EXPECT_NE(second.output.find("is already running"), std::string::npos) << second.output;
    EXPECT_NE(second.output.find("give --redis and --postgres the URLs its banner printed"),
              std::string::npos) << second.output;
    EXPECT_EQ(p.stop(SIGTERM), 0);
    EXPECT_THROW(resp_client{redis_port}, std::runtime_error);  // its Redis stopped with it
  }
  fs::remove(log);
  {
    child_process p;
    ASSERT_TRUE(serve(p, argv, log));
    resp_client c(port);
    EXPECT_EQ(c.cmd({"GET", "session:42"}).str, "{\"cart\": [1]}");
    EXPECT_EQ(p.stop(SIGINT), 0);
  }
}

namespace {

// The sample configuration with the cart: namespace's flush interval changed.
std::string sample_with_flush_interval(const std::string& ms) {
  auto text = sample_config_text();
  auto at = text.find("flush_interval_ms = 50");
  text.replace(at, 22, "flush_interval_ms = " + ms);
  return text;
}

std::vector<std::string> serve_argv(const std::string& config, uint16_t port) {
  return {WTCACHED_PATH, "--config", config, "--listen", "127.0.0.1:" + std::to_string(port),
          "--http-listen", "127.0.0.1:0", "--redis", servers::get().redis_url(), "--postgres",
          servers::get().postgres_url()};
}

long long cart_queue_depth() {
  return queue_depth("shopping_carts");
}

}  // namespace

// SIGTERM: stop taking commands, drain the write-behind queue, exit 0.
TEST(Wtcached, SigtermDrainsTheWriteBehindQueueAndExitsZero) {
  scratch_dir d;
  auto cfg = d.file("wb.toml", sample_with_flush_interval("60000"));
  auto log = d.file("serve.log");
  uint16_t port = free_loopback_port();
  child_process p;
  ASSERT_TRUE(serve(p, serve_argv(cfg, port), log));
  resp_client c(port);
  for (int i = 0; i < 20; ++i)
    ASSERT_EQ(c.cmd({"SET", "cart:term" + std::to_string(i), "[" + std::to_string(i) + "]"}).str, "OK");
  EXPECT_EQ(sql("SELECT 1 FROM shopping_carts WHERE cart_id LIKE 'term%'").size(), 0u);
  EXPECT_EQ(p.stop(SIGTERM), 0);
  EXPECT_NE(slurp(log).find("write-behind queues drained into PostgreSQL"), std::string::npos)
    << slurp(log);
  for (int i = 0; i < 20; ++i)
    EXPECT_EQ(sql("SELECT items::text FROM shopping_carts WHERE cart_id = $1",
                  "term" + std::to_string(i))[0][0].as<std::string>(),
              "[" + std::to_string(i) + "]");
}

// kill -9 under write-behind load: after a restart every acknowledged write
// reaches PostgreSQL, each key at its last acknowledged value (or at the one
// in flight when the process died, whose outcome the client never learnt).
TEST(Wtcached, KillNineUnderWriteBehindLoadLosesNoAcknowledgedWrite) {
  scratch_dir d;
  auto cfg = d.file("wb.toml", sample_with_flush_interval("200"));
  auto log = d.file("serve.log");
  uint16_t port = free_loopback_port();
  child_process p;
  ASSERT_TRUE(serve(p, serve_argv(cfg, port), log));

  constexpr int clients = 4, keys_per_client = 10;
  struct key_history {
    std::atomic<int> acknowledged{-1};
    std::atomic<int> attempted{-1};
  };
  std::vector<key_history> history(clients * keys_per_client);
  std::atomic<int> acks{0};
  std::atomic<bool> stop{false};
  std::vector<std::thread> load;
  for (int t = 0; t < clients; ++t)
    load.emplace_back([&, t] {
      try {
        resp_client c(port);
        for (int n = 0; !stop; ++n) {
          for (int k = 0; k < keys_per_client && !stop; ++k) {
            auto& h = history[t * keys_per_client + k];
            h.attempted = n;
            auto r = c.cmd({"SET", "cart:crash" + std::to_string(t * keys_per_client + k),
                            "{\"n\": " + std::to_string(n) + "}"});
            if (r.str != "OK")
              return;
            h.acknowledged = n;
            ++acks;
          }
        }
      } catch (const std::exception&) {
        // the connection died with the service
      }
    });
  ASSERT_TRUE(eventually([&] { return acks > 2000; }, 30s));
  p.signal(SIGKILL);
  p.wait();
  stop = true;
  for (auto& th : load)
    th.join();
  auto queued = cart_queue_depth();
  EXPECT_GT(queued, 0) << "nothing was queued at the kill: the test proves nothing";

  child_process again;
  fs::remove(log);
  ASSERT_TRUE(serve(again, serve_argv(cfg, port), log));
  ASSERT_TRUE(eventually([&] { return cart_queue_depth() == 0; }, 30s)) << slurp(log);
  int checked = 0;
  for (std::size_t i = 0; i < history.size(); ++i) {
    auto acked = history[i].acknowledged.load();
    if (acked < 0)
      continue;
    auto row = sql("SELECT (items->>'n')::int FROM shopping_carts WHERE cart_id = $1",
                   "crash" + std::to_string(i));
    ASSERT_EQ(row.size(), 1u) << "crash" << i;
    auto n = row[0][0].as<int>();
    EXPECT_GE(n, acked) << "crash" << i << ": an acknowledged write was lost";
    EXPECT_LE(n, history[i].attempted.load()) << "crash" << i;
    ++checked;
  }
  std::printf("  kill -9: %d acknowledged writes, %lld queued at the kill, %d keys checked\n",
              acks.load(), queued, checked);
  EXPECT_EQ(checked, clients * keys_per_client);
  EXPECT_EQ(again.stop(SIGTERM), 0);
}

// Every channel a password could leak through, after a session of right
// and wrong passwords: the log (debug level), the replies (errors, INFO,
// CLIENT LIST, CONFIG GET), /metrics, and `wtcached check`.
TEST(Wtcached, NoPasswordReachesAnyOutput) {
  scratch_dir d;
  const std::string default_pw = "DefaultPw-9q2z", app_pw = "AppPw-4k8m", guess = "GuessPw-1a2b";
  auto pw_file = d.file("default.pw", default_pw + "\n");
  ::setenv("WTCACHE_TEST_APP_PW", app_pw.c_str(), 1);
  auto cfg = d.file("secure.toml", "[server]\nrequirepass_file = \"" + pw_file +
                                       "\"\n[[user]]\nname = \"app\"\npassword_env = "
                                       "\"WTCACHE_TEST_APP_PW\"\nkeys = [\"app:*\"]\n");
  fs::permissions(cfg, fs::perms(0600));
  auto log = d.file("serve.log");
  uint16_t port = free_loopback_port(), http = free_loopback_port();
  child_process p;
  auto argv = serve_argv(cfg, port);
  argv.insert(argv.end(), {"--http-listen", "127.0.0.1:" + std::to_string(http), "--log-level",
                           "debug"});
  ASSERT_TRUE(serve(p, argv, log));
  std::string seen;
  auto saw = [&](const reply& r) {
    std::ostringstream o;
    o << r;
    seen += o.str() + "\n";
    return r;
  };
  {
    resp_client c(port);
    saw(c.cmd({"GET", "app:k"}));
    saw(c.cmd({"AUTH", guess}));
    saw(c.cmd({"AUTH", "app", guess}));
    saw(c.cmd({"AUTH", "nobody", default_pw}));
    saw(c.cmd({"HELLO", "2", "AUTH", "app", guess}));
    saw(c.cmd({"AUTH", "app", guess, "extra"}));
    EXPECT_EQ(saw(c.cmd({"AUTH", "app", app_pw})).str, "OK");
    EXPECT_EQ(saw(c.cmd({"SET", "app:k", "v"})).str, "OK");
    saw(c.cmd({"SET", "other:k", default_pw}));
    saw(c.cmd({"HELLO", "2", "AUTH", "default", default_pw, "SETNAME", "pw-test"}));
    saw(c.cmd({"INFO", "everything"}));
    saw(c.cmd({"CLIENT", "LIST"}));
    saw(c.cmd({"CONFIG", "GET", "*"}));
  }
  seen += http_get(http, "/metrics").body;
  EXPECT_NE(seen.find("WRONGPASS"), std::string::npos) << seen;
  EXPECT_NE(seen.find("wtcache_acl_denied_total{reason=\"auth\"} 4"), std::string::npos) << seen;
  auto check = run({"check", "--config", cfg, "--redis", servers::get().redis_url(), "--postgres",
                    servers::get().postgres_url()},
                   d);
  EXPECT_EQ(check.status, 0) << check.output;
  EXPECT_EQ(p.stop(SIGTERM), 0);
  ::unsetenv("WTCACHE_TEST_APP_PW");
  auto out = slurp(log) + check.output;
  for (auto* channel : {&seen, &out})
    for (auto& pw : {default_pw, app_pw, guess})
      EXPECT_EQ(channel->find(pw), std::string::npos) << pw << " in:\n" << *channel;
}

TEST(Wtcached, WarnsWhenAFileWithAPasswordIsReadableByOthers) {
  scratch_dir d;
  auto cfg = d.file("open.toml", "[server]\nrequirepass = \"PlainPw-5t6u\"\n");
  fs::permissions(cfg, fs::perms(0644));
  auto args = std::vector<std::string>{"check", "--config", cfg, "--redis",
                                       servers::get().redis_url(), "--postgres",
                                       servers::get().postgres_url()};
  auto r = run(args, d);
  EXPECT_NE(r.output.find("holds a password and is readable by other users (mode 644)"),
            std::string::npos) << r.output;
  EXPECT_EQ(r.output.find("PlainPw-5t6u"), std::string::npos) << r.output;
  fs::permissions(cfg, fs::perms(0600));
  r = run(args, d);
  EXPECT_EQ(r.output.find("readable by other users"), std::string::npos) << r.output;
}

namespace {

long long rss_kib(pid_t pid) {
  std::ifstream status("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(status, line))
    if (line.rfind("VmRSS:", 0) == 0)
      return std::stoll(line.substr(6));
  return -1;
}

long long metric(uint16_t http, const std::string& name) {
  auto body = http_get(http, "/metrics").body;
  auto at = body.find("\n" + name + " ");
  return at == std::string::npos ? -1 : std::stoll(body.substr(at + name.size() + 2));
}

}  // namespace

// A flood of idle connections: maxclients are let in, every one past it is
// told so and closed, and the memory the open ones take is bounded (and
// measured: the README states it per connection).
TEST(Wtcached, AConnectionFloodIsHeldAtMaxclientsWithBoundedMemory) {
  rlimit lim{};
  ASSERT_EQ(::getrlimit(RLIMIT_NOFILE, &lim), 0);
  lim.rlim_cur = lim.rlim_max;
  ::setrlimit(RLIMIT_NOFILE, &lim);
  constexpr int maxclients = 1000, flood = 3000;
  if (lim.rlim_cur < flood + 100)
    GTEST_SKIP() << "this process may open only " << lim.rlim_cur << " files";
  scratch_dir d;
  auto cfg = d.file("flood.toml", "[server]\nmaxclients = " + std::to_string(maxclients) + "\n");
  auto log = d.file("serve.log");
  uint16_t port = free_loopback_port(), http = free_loopback_port();
  child_process p;
  auto argv = serve_argv(cfg, port);
  argv.insert(argv.end(), {"--http-listen", "127.0.0.1:" + std::to_string(http)});
  ASSERT_TRUE(serve(p, argv, log));
  {
    resp_client warm(port);  // one client's worth of buffers, before the baseline
    ASSERT_EQ(warm.cmd({"SET", "flood:k", "v"}).str, "OK");
  }
  ASSERT_TRUE(eventually([&] { return metric(http, "wtcache_client_connections") == 0; }));
  auto before = rss_kib(p.pid());
  std::vector<std::unique_ptr<raw_socket>> sockets;
  for (int i = 0; i < flood; ++i)
    sockets.push_back(std::make_unique<raw_socket>(port));
  ASSERT_TRUE(eventually([&] {
    return metric(http, "wtcache_client_connections") == maxclients &&
           metric(http, "wtcache_rejected_connections_total") == flood - maxclients;
  }, 30s)) << metric(http, "wtcache_client_connections") << " open, "
           << metric(http, "wtcache_rejected_connections_total") << " refused";
  auto during = rss_kib(p.pid());
  // Each refused socket has its error (or soon will): look until all do.
  std::vector<bool> told(sockets.size(), false);
  int refused = 0;
  EXPECT_TRUE(eventually([&] {
    for (std::size_t i = 0; i < sockets.size(); ++i)
      if (!told[i] && sockets[i]->receive(1, 0).rfind("-ERR max number of clients reached", 0) == 0) {
        told[i] = true;
        ++refused;
      }
    return refused == flood - maxclients;
  })) << refused;
  // The accepted ones heard nothing.
  EXPECT_EQ(std::count(told.begin(), told.begin() + maxclients, true), 0);
  auto per_connection = (during - before) / maxclients;
  std::cout << "flood: " << flood << " connections, " << maxclients << " accepted, " << refused
            << " refused; RSS " << before / 1024 << " -> " << during / 1024 << " MiB, about "
            << per_connection << " KiB per idle connection\n";
  EXPECT_LT(during - before, 64 * 1024) << "KiB for " << maxclients << " idle connections";
  sockets.clear();
  // The service still answers.
  ASSERT_TRUE(eventually([&] {
    resp_client c(port);
    return c.cmd({"GET", "flood:k"}).str == "v";
  }));
  EXPECT_EQ(p.stop(SIGTERM), 0);
}


// TLS to PostgreSQL, through the URL as libpq takes it: a private server
// with a certificate made by the openssl CLI. verify-full connects (check
// says so, and a SET commits over it); a wrong root certificate is refused
// with libpq's reason.
TEST(Wtcached, PostgresOverTlsVerifiesTheServerCertificate) {
  scratch_dir d;
  auto pgdir = d.path + "/pg-tls", certs = pgdir + "/certs";
  fs::create_directories(certs);
  auto script =
    "set -e; cd '" + certs + "'\n"
    "openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=wtcache-test-ca "
    "  -keyout ca.key -out ca.crt\n"
    "openssl req -newkey rsa:2048 -nodes -subj /CN=127.0.0.1 -keyout server.key -out server.csr\n"
    "printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\\n' > san.ext\n"
    "openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 2 "
    "  -extfile san.ext -out server.crt\n"
    "openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=some-other-ca "
    "  -keyout other.key -out other.crt\n"
    "chmod 600 server.key\n";
  ASSERT_EQ(std::system(("(" + script + ") > '" + d.path + "/openssl.log' 2>&1").c_str()), 0)
    << slurp(d.path + "/openssl.log");
  embedded_postgres pg;
  pg.start(pgdir, demo_sql, false, 0,
           {"-c", "ssl=on", "-c", "ssl_cert_file=" + certs + "/server.crt", "-c",
            "ssl_key_file=" + certs + "/server.key"});
  auto url = [&](const std::string& root) {
    return "postgresql://wtcache@127.0.0.1:" + std::to_string(pg.port()) +
           "/wtcache?sslmode=verify-full&sslrootcert=" + certs + "/" + root;
  };
  auto check = [&](const std::string& root) {
    return run({"check", "--redis", servers::get().redis_url(), "--postgres", url(root)}, d);
  };
  auto good = check("ca.crt");
  EXPECT_EQ(good.status, 0) << good.output;
  EXPECT_NE(good.output.find("TLS TLSv1.3"), std::string::npos) << good.output;
  EXPECT_NE(good.output.find("sslmode=verify-full: server certificate and host name verified"),
            std::string::npos) << good.output;
  // Without TLS, check says that too.
  auto plain = run({"check", "--redis", servers::get().redis_url(), "--postgres",
                    servers::get().postgres_url()}, d);
  EXPECT_NE(plain.output.find("no TLS, sslmode=prefer"), std::string::npos) << plain.output;

  auto log = d.file("serve.log");
  uint16_t port = free_loopback_port();
  {
    child_process p;
    ASSERT_TRUE(serve(p, {WTCACHED_PATH, "--listen", "127.0.0.1:" + std::to_string(port),
                          "--http-listen", "127.0.0.1:0", "--data-dir", d.path + "/var",
                          "--redis", servers::get().redis_url(), "--postgres", url("ca.crt")},
                      log));
    resp_client c(port);
    EXPECT_EQ(c.cmd({"SET", "tls:k", "over-tls"}).str, "OK");
    EXPECT_EQ(p.stop(SIGTERM), 0);
  }
  pqxx::connection db(pg.url());
  pqxx::nontransaction tx(db);
  EXPECT_EQ(tx.exec("SELECT convert_from(value, 'UTF8') FROM wtcache_kv WHERE key = 'tls:k'")[0][0]
              .as<std::string>(),
            "over-tls");

  auto bad = check("other.crt");
  EXPECT_EQ(bad.status, 1) << bad.output;
  EXPECT_NE(bad.output.find("SSL error: certificate verify failed (the server's certificate is "
                            "not signed by sslrootcert's CA)"),
            std::string::npos) << bad.output;
  auto refused = run({"--listen", "127.0.0.1:0", "--redis", servers::get().redis_url(),
                      "--postgres", url("other.crt")}, d);
  EXPECT_EQ(refused.status, 2) << refused.output;
  EXPECT_NE(refused.output.find("certificate verify failed"), std::string::npos) << refused.output;
  pg.stop();
}
