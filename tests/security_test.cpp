// Hostile and unauthenticated clients, against a service with a password
// and two users: AUTH and HELLO AUTH, NOAUTH, WRONGPASS, NOPERM (compared
// reply by reply with a real redis-server given the same users), the
// tighter limits before authentication, maxclients and the idle timeout.
#include <atomic>
#include <thread>

#include "core/acl.hpp"
#include "tests/support/service_fixture.hpp"

namespace wtcache::test {

namespace {

using commands = std::vector<std::vector<std::string>>;

// The users of both servers. "app" may touch keys under "app:" (the default
// namespace, bytea, so values come back as sent); "ro" reads any key.
void secure(config& cfg) {
  cfg.requirepass_sha256 = sha256_hex("s3cret-default");
  user_config app;
  app.name = "app";
  app.password_sha256 = sha256_hex("app-pass-1");
  app.keys = {"app:*"};
  user_config ro;
  ro.name = "ro";
  ro.password_sha256 = sha256_hex("ro-pass-2");
  ro.read_only = true;
  cfg.users = {app, ro};
}


}  // namespace

class Security : public Service {
protected:
  static void SetUpTestSuite() {
    Service::SetUpTestSuite();
    secured_ = start_service_with(secure);
    reference_ = std::make_unique<embedded_redis>();
    reference_->start(servers::get().dir + "/reference-acl");
    resp_client r(reference_->port());
    for (auto& c : commands{{"ACL", "SETUSER", "app", "on", ">app-pass-1", "~app:*", "&*", "+@all"},
                            {"ACL", "SETUSER", "ro", "on", ">ro-pass-2", "~*", "&*", "+@all",
                             "-@write"},
                            {"CONFIG", "SET", "requirepass", "s3cret-default"}})
      ASSERT_EQ(r.cmd(c).str, "OK") << shown(c);
  }

  static void TearDownTestSuite() {
    reference_->stop();
    reference_.reset();
    secured_->stop();
    secured_.reset();
    Service::TearDownTestSuite();
  }

  // Each case on a new connection to each server, reply by reply.
  void expect_as_redis(const std::vector<commands>& cases) {
    for (auto& steps : cases) {
      resp_client want(reference_->port()), got(secured_->port());
      for (auto& step : steps) {
        auto r = want.cmd(step), g = got.cmd(step);
        EXPECT_TRUE(alike(r, g)) << shown(step) << "\n  redis:    " << r << "\n  wtcached: " << g;
      }
    }
  }

  static uint64_t stat(const std::string& name) {
    resp_client c(secured_->port());
    c.cmd({"AUTH", "s3cret-default"});
    return std::stoull(info_field(c, name));
  }

  static inline std::unique_ptr<service> secured_;
  static inline std::unique_ptr<embedded_redis> reference_;
};

TEST_F(Security, EveryCommandBeforeAuthGetsNoauthExceptAuthHelloAndQuit) {
  expect_as_redis({
    {{"GET", "app:a"}, {"SET", "app:a", "1"}, {"PING"}, {"INFO"}, {"CLIENT", "ID"},
     {"MULTI"}, {"EXEC"}, {"DEL", "app:a"}, {"KEYS", "*"}, {"COMMAND", "COUNT"}},
    // An unknown command or a wrong argument count is said as such first.
    {{"NOSUCHCOMMAND", "x"}, {"GET"}, {"SET", "app:a"}},
    {{"HELLO", "2"}, {"HELLO", "2", "SETNAME", "x"}},
    {{"QUIT"}},
  });
}

TEST_F(Security, AuthWorksForTheDefaultUserAndNamedUsers) {
  expect_as_redis({
    {{"AUTH", "s3cret-default"}, {"SET", "any:key", "v"}, {"GET", "any:key"}, {"DEL", "any:key"}},
    {{"AUTH", "default", "s3cret-default"}, {"PING"}},
    {{"AUTH", "app", "app-pass-1"}, {"SET", "app:k1", "v1"}, {"GET", "app:k1"},
     {"MGET", "app:k1", "app:none"}, {"DEL", "app:k1"}},
    {{"AUTH", "ro", "ro-pass-2"}, {"GET", "app:none"}, {"EXISTS", "app:none", "b"}},
  });
  // HELLO AUTH answers the handshake (its id differs from Redis's).
  resp_client c(secured_->port());
  auto hello = c.cmd({"HELLO", "2", "AUTH", "app", "app-pass-1", "SETNAME", "worker-1"});
  ASSERT_EQ(hello.kind, reply::array) << hello;
  EXPECT_EQ(hello.elements.at(0).str, "server");
  EXPECT_EQ(c.cmd({"CLIENT", "GETNAME"}).str, "worker-1");
  EXPECT_EQ(c.cmd({"SET", "app:hello", "v"}).str, "OK");
  auto list = c.cmd({"CLIENT", "LIST"}).str;
  EXPECT_NE(list.find("name=worker-1"), std::string::npos) << list;
  EXPECT_NE(list.find("user=app"), std::string::npos) << list;
}

TEST_F(Security, AWrongPasswordGetsWrongpassAndChangesNobody) {
  expect_as_redis({
    {{"AUTH", "wrong"}, {"AUTH", "app", "s3cret-default"}, {"AUTH", "nobody", "app-pass-1"},
     {"AUTH", "a", "b", "c"}, {"HELLO", "2", "AUTH", "app", "wrong"}, {"GET", "app:a"}},
    // A failure leaves an authenticated connection as it was.
    {{"AUTH", "app", "app-pass-1"}, {"AUTH", "ro", "wrong"}, {"SET", "app:stays", "v"},
     {"GET", "app:stays"}, {"DEL", "app:stays"}},
    // RESET goes back to the default user, who needs the password again.
    {{"AUTH", "app", "app-pass-1"}, {"RESET"}, {"GET", "app:a"}},
  });
}

TEST_F(Security, AKeyOutsideTheUsersPatternsOrAWriteByAReadOnlyUserGetsNoperm) {
  expect_as_redis({
    {{"AUTH", "app", "app-pass-1"}, {"SET", "other:k", "v"}, {"GET", "other:k"},
     {"MGET", "app:a", "other:k"}, {"MSET", "app:a", "1", "other:k", "2"}, {"DEL", "other:k"},
     {"WATCH", "other:k"}, {"INCR", "other:n"}},
    // Denied while queued: the transaction is discarded.
    {{"AUTH", "app", "app-pass-1"}, {"MULTI"}, {"SET", "app:m", "1"}, {"SET", "other:m", "2"},
     {"EXEC"}, {"GET", "app:m"}},
    {{"AUTH", "ro", "ro-pass-2"}, {"SET", "app:r", "v"}, {"DEL", "app:r"}, {"INCR", "app:n"},
     {"EXPIRE", "app:r", "10"}, {"GETDEL", "app:r"}, {"GET", "app:r"}},
  });
}

TEST_F(Security, AuthInsideMultiTakesEffectAtExecAndNotAtDiscard) {
  expect_as_redis({
    {{"AUTH", "s3cret-default"}, {"MULTI"}, {"AUTH", "app", "app-pass-1"}, {"DISCARD"},
     {"GET", "other:x"}},  // still the default user
    {{"AUTH", "s3cret-default"}, {"MULTI"}, {"AUTH", "app", "app-pass-1"}, {"EXEC"},
     {"GET", "other:x"}},  // app now
    {{"AUTH", "s3cret-default"}, {"MULTI"}, {"AUTH", "app", "app-pass-1"}, {"NOSUCH"}, {"EXEC"},
     {"GET", "other:x"}},  // EXECABORT: still the default user
  });
}

TEST_F(Security, ClientKillByUserOrTypeKillsOnlyThoseClients) {
  expect_as_redis({
    {{"AUTH", "s3cret-default"}, {"CLIENT", "KILL", "USER", "nobody"},
     {"CLIENT", "KILL", "TYPE", "bogus"}, {"CLIENT", "KILL", "TYPE", "pubsub"},
     {"CLIENT", "KILL", "MAXAGE", "1"}},
  });
  for (auto port : {reference_->port(), secured_->port()}) {
    resp_client admin(port), other_admin(port);
    ASSERT_EQ(admin.cmd({"AUTH", "s3cret-default"}).str, "OK");
    // The earlier tests' app connections are closed, but a server hears of
    // that on its own time: wait until none is listed.
    ASSERT_TRUE(eventually([&] {
      return admin.cmd({"CLIENT", "LIST"}).str.find("user=app ") == std::string::npos;
    })) << "port " << port;
    resp_client app(port);
    ASSERT_EQ(other_admin.cmd({"AUTH", "s3cret-default"}).str, "OK");
    ASSERT_EQ(app.cmd({"AUTH", "app", "app-pass-1"}).str, "OK");
    auto killed = admin.cmd({"CLIENT", "KILL", "USER", "app"});
    EXPECT_EQ(killed.number, 1) << killed << " on port " << port;
    EXPECT_EQ(other_admin.cmd({"PING"}).str, "PONG") << "port " << port;
    EXPECT_EQ(admin.cmd({"CLIENT", "KILL", "USER", "app"}).number, 0) << "port " << port;
  }
}

TEST_F(Security, ClientListShowsNoUnknownCommandName) {
  resp_client probe(secured_->port()), admin(secured_->port());
  // Before authentication, a "command" that is a password sent by mistake,
  // and one that would forge a line of CLIENT LIST.
  probe.cmd({"s3cret-default"});
  probe.cmd({"x\nid=1 addr=10.0.0.5:1 user=default"});
  ASSERT_EQ(admin.cmd({"AUTH", "s3cret-default"}).str, "OK");
  auto list = admin.cmd({"CLIENT", "LIST"}).str;
  EXPECT_EQ(list.find("s3cret"), std::string::npos) << list;
  EXPECT_EQ(list.find("10.0.0.5"), std::string::npos) << list;
  EXPECT_NE(list.find("cmd=NULL"), std::string::npos) << list;
  EXPECT_NE(list.find("cmd=client|list"), std::string::npos) << list;
}

TEST_F(Security, ADeniedWriteWritesNothingAndIsCounted) {
  auto keys_before = stat("acl_access_denied_key"), cmds_before = stat("acl_access_denied_cmd");
  resp_client app(secured_->port()), ro(secured_->port());
  ASSERT_EQ(app.cmd({"AUTH", "app", "app-pass-1"}).str, "OK");
  ASSERT_EQ(ro.cmd({"AUTH", "ro", "ro-pass-2"}).str, "OK");
  auto outside = key("other:"), inside = key("app:");
  EXPECT_EQ(app.cmd({"SET", outside, "v"}).str,
            "NOPERM this user has no permissions to access one of the keys used as arguments");
  EXPECT_EQ(ro.cmd({"SET", inside, "v"}).str,
            "NOPERM this user has no permissions to run the 'set' command");
  EXPECT_EQ(ro.cmd({"FLUSHDB"}).str,
            "NOPERM this user has no permissions to run the 'flushdb' command");
  // A user limited to some keys does not list or count the others.
  EXPECT_EQ(app.cmd({"KEYS", "*"}).str,
            "NOPERM this user has no permissions to run the 'keys' command");
  EXPECT_EQ(app.cmd({"SCAN", "0"}).str,
            "NOPERM this user has no permissions to run the 'scan' command");
  for (auto& k : {outside, inside})
    EXPECT_EQ(sql("SELECT count(*) FROM wtcache_kv WHERE key = $1", k)[0][0].as<int>(), 0) << k;
  EXPECT_EQ(redis_entry(outside).elements.size(), 0u);
  EXPECT_EQ(redis_entry(inside).elements.size(), 0u);
  EXPECT_EQ(stat("acl_access_denied_key"), keys_before + 1);
  EXPECT_EQ(stat("acl_access_denied_cmd"), cmds_before + 4);
  // The same user's allowed write goes through.
  EXPECT_EQ(app.cmd({"SET", inside, "v"}).str, "OK");
  EXPECT_EQ(sql("SELECT count(*) FROM wtcache_kv WHERE key = $1", inside)[0][0].as<int>(), 1);
}

TEST_F(Security, BeforeAuthLargeCommandsAreProtocolErrorsThatCloseTheConnection) {
  {
    raw_socket s(secured_->port());
    std::string eleven = "*11\r\n";
    for (int i = 0; i < 11; ++i)
      eleven += "$1\r\na\r\n";
    s.send(eleven);
    std::string want = "-ERR Protocol error: unauthenticated multibulk length\r\n";
    EXPECT_EQ(s.receive(want.size()), want);
    EXPECT_TRUE(s.closed_by_peer());
  }
  {
    raw_socket s(secured_->port());
    s.send("*2\r\n$3\r\nGET\r\n$16385\r\n");
    std::string want = "-ERR Protocol error: unauthenticated bulk length\r\n";
    EXPECT_EQ(s.receive(want.size()), want);
    EXPECT_TRUE(s.closed_by_peer());
  }
  // Authenticated, the usual limits hold: a 100 KiB value is fine.
  resp_client c(secured_->port());
  ASSERT_EQ(c.cmd({"AUTH", "app", "app-pass-1"}).str, "OK");
  auto k = key("app:");
  EXPECT_EQ(c.cmd({"SET", k, std::string(100 * 1024, 'x')}).str, "OK");
  EXPECT_EQ(c.cmd({"STRLEN", k}).number, 100 * 1024);
}

TEST_F(Security, ManyConnectionsWithWrongPasswordsLeaveTheServiceAnswering) {
  auto failures_before = stat("acl_access_denied_auth");
  constexpr int attackers = 8, attempts = 100;
  std::atomic<int> wrongpass{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < attackers; ++t)
    threads.emplace_back([&, t] {
      for (int i = 0; i < attempts; ++i) {
        resp_client c(secured_->port());
        auto r = c.cmd({"AUTH", "app", "guess-" + std::to_string(t) + "-" + std::to_string(i)});
        if (r.str.rfind("WRONGPASS", 0) == 0)
          ++wrongpass;
      }
    });
  // Meanwhile an authenticated client writes and reads, and every answer is right.
  resp_client app(secured_->port());
  ASSERT_EQ(app.cmd({"AUTH", "app", "app-pass-1"}).str, "OK");
  int served = 0;
  auto k = key("app:");
  while (wrongpass < attackers * attempts && served < 10000) {
    auto v = std::to_string(served);
    ASSERT_EQ(app.cmd({"SET", k, v}).str, "OK");
    ASSERT_EQ(app.cmd({"GET", k}).str, v);
    ++served;
  }
  for (auto& t : threads)
    t.join();
  EXPECT_EQ(wrongpass.load(), attackers * attempts);
  EXPECT_GT(served, 0);
  EXPECT_EQ(stat("acl_access_denied_auth"), failures_before + attackers * attempts);
}

TEST_F(Security, PastMaxclientsExactlyTheExcessIsRefusedAndTheRestKeepWorking) {
  auto limited = start_service_with([](config& cfg) { cfg.maxclients = 20; });
  std::vector<std::unique_ptr<resp_client>> in;
  for (int i = 0; i < 20; ++i) {
    in.push_back(std::make_unique<resp_client>(limited->port()));
    ASSERT_EQ(in.back()->cmd({"PING"}).str, "PONG");  // accepted and counted
  }
  int refused = 0;
  for (int i = 0; i < 10; ++i) {
    raw_socket s(limited->port());
    std::string want = "-ERR max number of clients reached\r\n";
    if (s.receive(want.size()) == want && s.closed_by_peer())
      ++refused;
  }
  EXPECT_EQ(refused, 10);
  for (auto& c : in)
    EXPECT_EQ(c->cmd({"PING"}).str, "PONG");
  // Once one leaves, another comes in.
  in.pop_back();
  EXPECT_TRUE(eventually([&] {
    resp_client c(limited->port());
    return c.cmd({"PING"}).str == "PONG";
  }));
  limited->stop();
}

TEST_F(Security, AClientIdleForTheTimeoutIsClosedAndABusyOneIsNot) {
  auto timed = start_service_with([](config& cfg) { cfg.idle_timeout = std::chrono::seconds(1); });
  raw_socket idle(timed->port());
  resp_client busy(timed->port());
  // The busy one sends a command every 300 ms for 2.4 s; the idle one
  // sends nothing and is closed within that time.
  for (int i = 0; i < 8; ++i) {
    EXPECT_EQ(busy.cmd({"PING"}).str, "PONG");
    std::this_thread::sleep_for(std::chrono::milliseconds(300));  // pacing, not waiting
  }
  EXPECT_TRUE(idle.closed_by_peer(2000));
  EXPECT_EQ(busy.cmd({"PING"}).str, "PONG");
  timed->stop();
}

}  // namespace wtcache::test
