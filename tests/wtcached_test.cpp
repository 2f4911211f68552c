// The wtcached binary as a user runs it: its exit status and messages for
// bad configuration, `wtcached migrate`, and the embedded default.
#include <sys/wait.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include <gtest/gtest.h>

#include "app/embedded_servers.hpp"
#include "tests/support/resp_client.hpp"
#include "tests/support/servers.hpp"

using namespace wtcache;
using namespace wtcache::test;
using namespace std::chrono_literals;
namespace fs = std::filesystem;

namespace {

std::string slurp(const std::string& path) {
  std::ifstream in(path);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

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
  argv.insert(argv.end(), {"--listen", "127.0.0.1:" + std::to_string(port)});
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
  std::vector<std::string> argv = {WTCACHED_PATH, "--config", WTCACHE_SOURCE_DIR "/config/wtcache.toml",
                                   "--data-dir", d.path + "/var", "--listen",
                                   "127.0.0.1:" + std::to_string(port)};
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
    EXPECT_EQ(c.cmd({"GET", "session:42"}).str, "{\"cart\": [1]}");
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
