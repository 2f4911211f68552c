// What a user who embeds wtcache does, step by step: install the package
// into a prefix, build examples/host_app out of tree against it with
// find_package, run it against this binary's Redis and PostgreSQL, and
// look at the rows and cache entries it left. Also: pkg-config's flags
// build a program.
#include <algorithm>
#include <filesystem>
#include <fstream>

#include "app/embedded_servers.hpp"
#include "tests/support/resp_client.hpp"
#include "tests/support/servers.hpp"
#include "tests/support/text.hpp"

namespace wtcache::test {
namespace {

namespace fs = std::filesystem;

class Embedding : public ::testing::Test {
protected:
  // One install for the suite: every test uses the same prefix.
  static void SetUpTestSuite() {
    work_ = servers::get().dir + "/embedding";
    fs::create_directories(work_);
    prefix_ = work_ + "/prefix";
    run_command({CMAKE_PATH, "--install", WTCACHE_BINARY_DIR, "--prefix", prefix_},
                work_ + "/install.log");
  }

  // Configures `src` into `build` against the installed package, as a user
  // would (with ccache when there is one), and builds it; logs go to `logs`.
  static void build_against_package(const std::string& src, const std::string& build,
                                    const std::string& logs,
                                    std::vector<std::string> extra_args = {}) {
    std::vector<std::string> configure = {CMAKE_PATH, "-S", src, "-B", build,
                                          "-DCMAKE_PREFIX_PATH=" + prefix_};
    configure.insert(configure.end(), extra_args.begin(), extra_args.end());
    // A sanitized library (./scripts/test --sanitize) needs a host built the same way.
    if (std::string(HOST_CXX_FLAGS).size() > 0) {
      configure.push_back(std::string("-DCMAKE_CXX_COMPILER=") + HOST_CXX);
      configure.push_back(std::string("-DCMAKE_CXX_FLAGS=") + HOST_CXX_FLAGS);
    }
    if (fs::exists("/usr/bin/ccache"))
      configure.push_back("-DCMAKE_CXX_COMPILER_LAUNCHER=/usr/bin/ccache");
    run_command(configure, logs + "/configure.log");
    run_command({CMAKE_PATH, "--build", build}, logs + "/build.log");
  }

  static inline std::string work_, prefix_;
};

TEST_F(Embedding, InstallPutsThePackageUnderThePrefix) {
  for (const char* f : {"include/wtcache/wtcache.hpp", "include/wtcache/version.hpp",
                        "include/wtcache/app/service.hpp", "include/wtcache/app/client.hpp",
                        "include/wtcache/messages/cache_api.hpp", "lib/libwtcache.so",
                        "lib/cmake/wtcache/wtcacheConfig.cmake",
                        "lib/cmake/wtcache/wtcacheConfigVersion.cmake",
                        "lib/cmake/wtcache/wtcacheTargets.cmake", "lib/cmake/wtcache/FindCAF.cmake",
                        "lib/pkgconfig/wtcache.pc", "bin/wtcached", "share/wtcache/wtcache.toml",
                        "share/wtcache/demo.sql"})
    EXPECT_TRUE(fs::exists(prefix_ + "/" + f)) << f;
  // Nothing of the source tree's internals is needed, nor installed.
  EXPECT_FALSE(fs::exists(prefix_ + "/include/wtcache/actors"));
  EXPECT_FALSE(fs::exists(prefix_ + "/include/wtcache/backends"));
}

TEST_F(Embedding, TheExampleBuildsWithFindPackageAndWritesThroughToPostgreSQL) {
  auto build = work_ + "/host_app";
  ASSERT_NO_THROW(build_against_package(std::string(WTCACHE_SOURCE_DIR) + "/examples/host_app",
                                        build, work_, {"-DCMAKE_BUILD_TYPE=RelWithDebInfo"}));

  // A clean slate for the keys it writes (the test may run again).
  sql("DELETE FROM user_sessions WHERE user_id = 42");
  sql("DELETE FROM page_views WHERE page_url IN ('/home', '/cart')");
  resp_client redis(servers::get().redis_port());
  redis.cmd({"DEL", cache_key("session:42"), cache_key("views:/home"), cache_key("views:/cart")});

  auto log = work_ + "/host_app.log";
  ASSERT_NO_THROW(run_command({build + "/host_app", "--redis", servers::get().redis_url(),
                               "--postgres", servers::get().postgres_url()},
                              log));
  auto out = slurp(log);
  EXPECT_NE(out.find("views:/home = 2"), std::string::npos) << out;

  // The rows, in PostgreSQL.
  auto session = sql("SELECT session_data->>'user', expires_at > now() + interval '29 minutes' "
                     "FROM user_sessions WHERE user_id = 42");
  ASSERT_EQ(session.size(), 1u);
  EXPECT_EQ(session[0][0].as<std::string>(), "42");
  EXPECT_TRUE(session[0][1].as<bool>());
  auto views = sql("SELECT page_url, view_count FROM page_views "
                   "WHERE page_url IN ('/home', '/cart') ORDER BY page_url");
  ASSERT_EQ(views.size(), 2u);
  EXPECT_EQ(views[0][1].as<int64_t>(), 1);  // /cart
  EXPECT_EQ(views[1][1].as<int64_t>(), 2);  // /home
  // The cache entries, in Redis, with the rows' versions.
  auto entry = redis.cmd({"HMGET", cache_key("views:/home"), "d", "v"});
  ASSERT_EQ(entry.elements.size(), 2u);
  EXPECT_EQ(entry.elements[0].str, "2");
  auto version = sql("SELECT version FROM page_views WHERE page_url = '/home'")[0][0];
  EXPECT_EQ(entry.elements[1].str, version.as<std::string>());
  auto cached_session = redis.cmd({"HGET", cache_key("session:42"), "d"});
  EXPECT_NE(cached_session.str.find("\"user\": 42"), std::string::npos) << cached_session;
}

// The README's "A host program in 30 lines", exactly as it is printed.
TEST_F(Embedding, TheReadmesHostProgramBuildsAndWritesARow) {
  auto readme = slurp(std::string(WTCACHE_SOURCE_DIR) + "/README.md");
  auto at = readme.find("### A host program in 30 lines");
  ASSERT_NE(at, std::string::npos);
  auto block = [&](const std::string& fence) {
    auto begin = readme.find(fence + "\n", at);
    auto end = readme.find("```\n", begin + fence.size());
    if (begin == std::string::npos || end == std::string::npos)
      return std::string();
    at = end + 4;
    return readme.substr(begin + fence.size() + 1, end - begin - fence.size() - 1);
  };
  auto program = block("```cpp");
  auto cmake_lists = block("```cmake");
  ASSERT_FALSE(program.empty());
  ASSERT_FALSE(cmake_lists.empty());
  EXPECT_LE(std::count(program.begin(), program.end(), '\n'), 35);
  auto dir = work_ + "/readme";
  fs::create_directories(dir);
  std::ofstream(dir + "/main.cpp") << program;
  std::ofstream(dir + "/CMakeLists.txt") << cmake_lists;
  ASSERT_NO_THROW(build_against_package(dir, dir + "/build", dir));
  sql("DELETE FROM wtcache_kv WHERE key = 'greeting'");
  resp_client redis(servers::get().redis_port());
  redis.cmd({"DEL", cache_key("greeting")});
  ASSERT_NO_THROW(run_command({"env", "REDIS_URL=" + servers::get().redis_url(),
                       "DATABASE_URL=" + servers::get().postgres_url(), dir + "/build/hello"},
                      dir + "/hello.log"));
  EXPECT_NE(slurp(dir + "/hello.log").find("greeting = hello from the host"), std::string::npos)
    << slurp(dir + "/hello.log");
  auto row = sql("SELECT convert_from(value, 'UTF8') FROM wtcache_kv WHERE key = 'greeting'");
  ASSERT_EQ(row.size(), 1u);
  EXPECT_EQ(row[0][0].as<std::string>(), "hello from the host");
}

TEST_F(Embedding, PkgConfigFlagsBuildAProgram) {
  auto pc = "PKG_CONFIG_PATH=" + prefix_ + "/lib/pkgconfig";
  auto flags_log = work_ + "/pkg-config.log";
  ASSERT_NO_THROW(run_command({"env", pc, "pkg-config", "--cflags", "--libs", "wtcache"}, flags_log));
  auto flags = slurp(flags_log);
  EXPECT_NE(flags.find("-lwtcache"), std::string::npos) << flags;
  EXPECT_NE(flags.find("/include"), std::string::npos) << flags;

  auto src = work_ + "/version.cpp";
  std::ofstream(src) << "#include <cstdio>\n#include <cstring>\n#include <wtcache/wtcache.hpp>\n"
                        "int main() {\n"
                        "  std::printf(\"%s\\n\", wtcache::version());\n"
                        "  return std::strcmp(wtcache::version(), WTCACHE_VERSION_STRING);\n"
                        "}\n";
  auto exe = work_ + "/version";
  // As a Makefile would, and as the README says: c++ -std=c++17 $(pkg-config
  // --cflags) src $(pkg-config --libs). (GCC 12 defaults to C++17, clang 14 to
  // C++14, and the headers need C++17.)
  ASSERT_NO_THROW(run_command({"sh", "-c",
                       std::string(HOST_CXX) + " -std=c++17 " + HOST_CXX_FLAGS + " $(" + pc + " pkg-config --cflags wtcache) " + src + " -o " + exe +
                         " $(" + pc + " pkg-config --libs wtcache) -Wl,-rpath," + prefix_ + "/lib"},
                      work_ + "/cc.log"));
  ASSERT_NO_THROW(run_command({exe}, work_ + "/version.log"));
  EXPECT_EQ(slurp(work_ + "/version.log"), std::string(WTCACHE_VERSION_TEXT) + "\n");
}

}  // namespace
}  // namespace wtcache::test
