// Black-box tests of the write-through service over real sockets, with a
// real Redis and PostgreSQL, checked directly in both (not only through the
// service). The service runs in this process (the embedding API) so that the
// test hooks can make races deterministic.
#include <future>
#include <mutex>
#include <set>

#include <gtest/gtest.h>

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/stateful_actor.hpp>

#include "actors/cache_reader.hpp"
#include "app/config.hpp"
#include "app/service.hpp"
#include "app/service_testing.hpp"
#include "messages/atoms.hpp"
#include "tests/support/http.hpp"
#include "tests/support/resp_client.hpp"
#include "tests/support/servers.hpp"

using namespace wtcache;
using namespace wtcache::test;
using namespace std::chrono_literals;

namespace {

// The test side of a shard hook: requests for armed keys are held until
// released; all others pass at once.
struct gate_state {
  std::set<std::string> armed;
  std::map<std::string, std::vector<caf::response_promise>> held;
  std::shared_ptr<std::atomic<int>> held_count;
};

caf::behavior gate(caf::stateful_actor<gate_state>* self, std::shared_ptr<std::atomic<int>> n) {
  self->state.held_count = n;
  return {
    [=](atom::gate, const std::string& key) -> caf::result<caf::ok_atom> {
      if (!self->state.armed.count(key))
        return caf::ok_atom::value;
      auto rp = self->make_response_promise();
      self->state.held[key].push_back(rp);
      ++*self->state.held_count;
      return caf::delegated<caf::ok_atom>{};
    },
    [=](caf::put_atom, const std::string& key) { self->state.armed.insert(key); },
    [=](caf::delete_atom, const std::string& key) {
      self->state.armed.erase(key);
      for (auto& rp : self->state.held[key])
        rp.deliver(caf::ok_atom::value);
      self->state.held.erase(key);
    },
  };
}

struct test_gate {
  caf::actor actor;
  std::shared_ptr<std::atomic<int>> held = std::make_shared<std::atomic<int>>(0);
  void arm(const std::string& key) { caf::anon_send(actor, caf::put_atom::value, key); }
  void release(const std::string& key) { caf::anon_send(actor, caf::delete_atom::value, key); }
};

std::string info_field(resp_client& c, const std::string& name) {
  auto text = c.cmd({"INFO"}).str;
  auto pos = text.find(name + ":");
  if (pos == std::string::npos)
    return {};
  auto end = text.find("\r\n", pos);
  return text.substr(pos + name.size() + 1, end - pos - name.size() - 1);
}

}  // namespace

class Service : public ::testing::Test {
protected:
  static config suite_config() { return test_config(); }

  // Another service on the same servers, with one setting changed; it stops
  // when the returned pointer goes.
  template <class Tweak>
  static std::unique_ptr<service> start_service_with(Tweak tweak) {
    auto cfg = suite_config();
    tweak(cfg);
    return start_service(cfg);
  }

  static std::unique_ptr<service> start_service(const config& cfg) {
    shard_hooks hooks;
    hooks.before_fill = fill_gate_->actor;
    hooks.before_cache_write = write_gate_->actor;
    return start_with_hooks(*sys_, cfg, hooks);
  }

  static void SetUpTestSuite() {
    sys_cfg_ = std::make_unique<caf::actor_system_config>();
    configure_actor_system(*sys_cfg_);
    use_sharing_scheduler(*sys_cfg_);  // as wtcached runs
    sys_ = std::make_unique<caf::actor_system>(*sys_cfg_);
    fill_gate_ = std::make_unique<test_gate>();
    write_gate_ = std::make_unique<test_gate>();
    fill_gate_->actor = sys_->spawn(gate, fill_gate_->held);
    write_gate_->actor = sys_->spawn(gate, write_gate_->held);
    svc_ = start_service(suite_config());
    port_ = svc_->port();
  }

  static void TearDownTestSuite() {
    svc_->stop();
    svc_.reset();
    caf::anon_send_exit(fill_gate_->actor, caf::exit_reason::user_shutdown);
    caf::anon_send_exit(write_gate_->actor, caf::exit_reason::user_shutdown);
    fill_gate_.reset();
    write_gate_.reset();
    sys_.reset();
    sys_cfg_.reset();
  }

  // A key of this test that the shard of `other` owns (4 shards).
  std::string key_beside(const std::string& other, const std::string& prefix = "") {
    for (;;) {
      auto k = key(prefix);
      if (shard_of(k, 4) == shard_of(other, 4))
        return k;
    }
  }

  // Holds the shard of `k` after its next write's COMMIT (until release).
  std::future<reply> hold_shard_with(const std::string& k, uint16_t port) {
    write_gate_->arm(k);
    int held = *write_gate_->held;
    auto f = std::async(std::launch::async, [k, port] {
      resp_client w(port);
      return w.cmd({"SET", k, "held"});
    });
    EXPECT_TRUE(eventually([&] { return *write_gate_->held == held + 1; }));
    return f;
  }

  // A key unique to this test, in the default namespace unless a prefix is given.
  std::string key(const std::string& prefix = "") {
    auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    return prefix + info->name() + std::to_string(++counter_);
  }

  static reply redis_entry(const std::string& client_key) {
    resp_client r(servers::get().redis_port());
    return r.cmd({"HGETALL", "wtc:" + client_key});
  }

  // Writes `k` through the service, then removes its cache entry behind the
  // service's back, so the next GET misses.
  void set_then_evict(resp_client& c, const std::string& k, const std::string& v) {
    ASSERT_EQ(c.cmd({"SET", k, v}).str, "OK");
    resp_client redis(servers::get().redis_port());
    ASSERT_EQ(redis.cmd({"DEL", "wtc:" + k}).number, 1);
  }

  static std::string field(const reply& hash, const std::string& name) {
    for (std::size_t i = 0; i + 1 < hash.elements.size(); i += 2)
      if (hash.elements[i].str == name)
        return hash.elements[i + 1].str;
    return {};
  }

  static inline std::unique_ptr<caf::actor_system_config> sys_cfg_;
  static inline std::unique_ptr<caf::actor_system> sys_;
  static inline std::unique_ptr<service> svc_;
  static inline std::unique_ptr<test_gate> fill_gate_, write_gate_;
  static inline uint16_t port_ = 0;
  static inline int counter_ = 0;
};

TEST_F(Service, SetCommitsTheRowAndCachesItBeforeAnswering) {
  resp_client c(port_);
  auto k = key();
  ASSERT_EQ(c.cmd({"SET", k, "hello"}).str, "OK");
  auto rows = sql("SELECT value, version FROM wtcache_kv WHERE key = $1", k);
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(pqxx::binarystring(rows[0][0]).str(), "hello");
  auto entry = redis_entry(k);
  EXPECT_EQ(field(entry, "d"), "hello");
  EXPECT_EQ(field(entry, "k"), "v");
  EXPECT_EQ(field(entry, "v"), rows[0][1].as<std::string>());
  EXPECT_EQ(c.cmd({"GET", k}).str, "hello");
}

TEST_F(Service, GetOfAMissingKeyIsNil) {
  resp_client c(port_);
  EXPECT_TRUE(c.cmd({"GET", key()}).is_nil());
}

TEST_F(Service, GetAfterTheCacheWasFlushedReadsThroughAndRefills) {
  resp_client c(port_);
  resp_client redis(servers::get().redis_port());
  auto k = key();
  ASSERT_EQ(c.cmd({"SET", k, "persisted"}).str, "OK");
  ASSERT_EQ(redis.cmd({"FLUSHALL"}).str, "OK");
  EXPECT_EQ(redis.cmd({"EXISTS", "wtc:" + k}).number, 0);
  EXPECT_EQ(c.cmd({"GET", k}).str, "persisted");
  EXPECT_EQ(field(redis_entry(k), "d"), "persisted");
  auto ttl = redis.cmd({"PTTL", "wtc:" + k}).number;
  EXPECT_GT(ttl, 3500 * 1000);  // cache.default_ttl = 3600 s
  EXPECT_LE(ttl, 3600 * 1000);
}

// One fence script call writes a command's keys: after Redis lost its
// scripts, and with one key holding something that is not a cache entry,
// every key is cached at its committed version.
TEST_F(Service, AWriteOfSeveralKeysCachesEachEvenAfterAScriptFlush) {
  resp_client c(port_);
  resp_client redis(servers::get().redis_port());
  auto k1 = key(), k2 = key(), k3 = key();
  ASSERT_EQ(redis.cmd({"SET", "wtc:" + k2, "not a cache entry"}).str, "OK");
  ASSERT_EQ(redis.cmd({"SCRIPT", "FLUSH"}).str, "OK");
  ASSERT_EQ(c.cmd({"MSET", k1, "one", k2, "two", k3, "three"}).str, "OK");
  std::map<std::string, std::string> want{{k1, "one"}, {k2, "two"}, {k3, "three"}};
  for (auto& [k, v] : want) {
    auto entry = redis_entry(k);
    EXPECT_EQ(field(entry, "d"), v) << k;
    EXPECT_EQ(field(entry, "k"), "v") << k;
    auto rows = sql("SELECT version FROM wtcache_kv WHERE key = $1", k);
    ASSERT_EQ(rows.size(), 1u);
    EXPECT_EQ(field(entry, "v"), rows[0][0].as<std::string>()) << k;
    EXPECT_EQ(c.cmd({"GET", k}).str, v);
  }
}

TEST_F(Service, SetWithExpiryAppliesTheTtlToTheCacheCopyOnly) {
  resp_client c(port_);
  resp_client redis(servers::get().redis_port());
  auto k = key();
  ASSERT_EQ(c.cmd({"SET", k, "v", "EX", "100"}).str, "OK");
  auto ttl = redis.cmd({"PTTL", "wtc:" + k}).number;
  EXPECT_GT(ttl, 90 * 1000);
  EXPECT_LE(ttl, 100 * 1000);
  ASSERT_EQ(c.cmd({"SET", k, "w", "PX", "1500"}).str, "OK");
  EXPECT_LE(redis.cmd({"PTTL", "wtc:" + k}).number, 1500);
  // The row itself does not expire.
  EXPECT_EQ(sql("SELECT 1 FROM wtcache_kv WHERE key = $1", k).size(), 1u);
}

TEST_F(Service, DelRemovesRowsLeavesTombstonesAndCountsWhatItDeleted) {
  resp_client c(port_);
  auto a = key(), b = key(), missing = key();
  ASSERT_EQ(c.cmd({"SET", a, "1"}).str, "OK");
  ASSERT_EQ(c.cmd({"SET", b, "2"}).str, "OK");
  auto del = c.cmd({"DEL", a, b, missing});
  EXPECT_EQ(del.number, 2) << del;
  EXPECT_EQ(sql("SELECT 1 FROM wtcache_kv WHERE key IN ($1, $2)", a, b).size(), 0u);
  auto entry = redis_entry(a);
  EXPECT_EQ(field(entry, "k"), "t");
  EXPECT_TRUE(c.cmd({"GET", a}).is_nil());
  EXPECT_EQ(c.cmd({"EXISTS", a, b}).number, 0);
  // Delete and reinsert: the new value's version is above the tombstone's.
  ASSERT_EQ(c.cmd({"SET", a, "again"}).str, "OK");
  EXPECT_EQ(c.cmd({"GET", a}).str, "again");
  EXPECT_EQ(field(redis_entry(a), "k"), "v");
}

TEST_F(Service, JsonbNamespaceRefusesInvalidJsonAndWritesNothing) {
  resp_client c(port_);
  auto err = c.cmd({"SET", "session:9001", "{\"cart\":[1,}"});
  ASSERT_TRUE(err.is_error());
  EXPECT_EQ(err.str, "ERR invalid JSON at byte 11: expected a value");
  EXPECT_EQ(sql("SELECT 1 FROM user_sessions WHERE user_id = 9001").size(), 0u);
  EXPECT_EQ(redis_entry("session:9001").elements.size(), 0u);
}

TEST_F(Service, NamespaceMapsToTheUserTableAndTouchesItsColumns) {
  resp_client c(port_);
  resp_client redis(servers::get().redis_port());
  ASSERT_EQ(c.cmd({"SET", "session:42", "{\"cart\":[1]}"}).str, "OK");
  sql("UPDATE user_sessions SET updated_at = now() - interval '1 day', "
      "last_activity = now() - interval '1 day' WHERE user_id = 42");
  ASSERT_EQ(c.cmd({"SET", "session:42", "{\"cart\":[1,2]}"}).str, "OK");
  auto row = sql("SELECT session_data::text, updated_at > now() - interval '1 minute', "
                 "last_activity > now() - interval '1 minute' FROM user_sessions WHERE user_id = 42");
  ASSERT_EQ(row.size(), 1u);
  EXPECT_EQ(row[0][0].as<std::string>(), "{\"cart\": [1, 2]}");
  EXPECT_TRUE(row[0][1].as<bool>());
  EXPECT_TRUE(row[0][2].as<bool>());
  // The cache holds what a read-through would return: jsonb's own text.
  EXPECT_EQ(c.cmd({"GET", "session:42"}).str, "{\"cart\": [1, 2]}");
  redis.cmd({"DEL", "wtc:session:42"});
  EXPECT_EQ(c.cmd({"GET", "session:42"}).str, "{\"cart\": [1, 2]}");
  auto ttl = redis.cmd({"PTTL", "wtc:session:42"}).number;
  EXPECT_GT(ttl, 1700 * 1000);  // the namespace's ttl = 1800
  // A key the key column cannot hold is refused by PostgreSQL, and nothing changes.
  auto bad = c.cmd({"SET", "session:not-a-number", "{}"});
  EXPECT_TRUE(bad.is_error()) << bad;
}

TEST_F(Service, CountersIncrementAtomicallyInTheDatabase) {
  auto page = "views:/" + key();
  constexpr int clients = 4, each = 25;
  std::vector<std::thread> threads;
  for (int i = 0; i < clients; ++i)
    threads.emplace_back([&] {
      resp_client c(port_);
      for (int j = 0; j < each; ++j)
        ASSERT_FALSE(c.cmd({"INCR", page}).is_error());
    });
  for (auto& t : threads)
    t.join();
  resp_client c(port_);
  EXPECT_EQ(c.cmd({"GET", page}).str, std::to_string(clients * each));
  auto row = sql("SELECT view_count FROM page_views WHERE page_url = $1", page.substr(6));
  EXPECT_EQ(row[0][0].as<int>(), clients * each);
  EXPECT_EQ(c.cmd({"INCRBY", page, "10"}).number, clients * each + 10);
  EXPECT_EQ(c.cmd({"DECRBY", page, "110"}).number, 0);
  EXPECT_EQ(c.cmd({"DECR", page}).number, -1);
}

TEST_F(Service, IncrOfANonIntegerIsRedissErrorAndChangesNothing) {
  resp_client c(port_);
  auto k = key();
  ASSERT_EQ(c.cmd({"SET", k, "abc"}).str, "OK");
  auto r = c.cmd({"INCR", k});
  EXPECT_EQ(r.str, "ERR value is not an integer or out of range");
  EXPECT_EQ(c.cmd({"GET", k}).str, "abc");
  ASSERT_EQ(c.cmd({"SET", k, "9223372036854775807"}).str, "OK");
  EXPECT_EQ(c.cmd({"INCR", k}).str, "ERR increment or decrement would overflow");
  EXPECT_EQ(c.cmd({"INCR", key()}).number, 1);
}

TEST_F(Service, MsetWritesAllKeysInOneTransaction) {
  resp_client c(port_);
  std::vector<std::string> args = {"MSET"};
  std::vector<std::string> keys;
  for (int i = 0; i < 20; ++i) {  // spread over every shard
    keys.push_back(key());
    args.push_back(keys.back());
    args.push_back("v" + std::to_string(i));
  }
  ASSERT_EQ(c.cmd(args).str, "OK");
  auto xmins = sql("SELECT count(DISTINCT xmin::text) FROM wtcache_kv WHERE key = ANY($1::text[])",
                   "{" + [&] { std::string s; for (auto& k : keys) s += (s.empty() ? "" : ",") + k; return s; }() + "}");
  EXPECT_EQ(xmins[0][0].as<int>(), 1);  // one transaction wrote them all
  std::vector<std::string> mget = {"MGET"};
  mget.insert(mget.end(), keys.begin(), keys.end());
  mget.push_back(key());
  auto got = c.cmd(mget);
  ASSERT_EQ(got.elements.size(), 21u);
  for (int i = 0; i < 20; ++i)
    EXPECT_EQ(got.elements[i].str, "v" + std::to_string(i));
  EXPECT_TRUE(got.elements[20].is_nil());
}

TEST_F(Service, MsetWithOneBadKeyWritesNothing) {
  resp_client c(port_);
  auto good = key();
  auto r = c.cmd({"MSET", good, "x", "session:abc", "{}"});
  ASSERT_TRUE(r.is_error()) << r;
  EXPECT_EQ(sql("SELECT 1 FROM wtcache_kv WHERE key = $1", good).size(), 0u);
  EXPECT_TRUE(c.cmd({"GET", good}).is_nil());
}

TEST_F(Service, PipelinedCommandsAreAnsweredInOrderAndSeeEarlierWrites) {
  resp_client c(port_);
  auto k = key();
  constexpr int n = 500;
  for (int i = 0; i < n; ++i) {
    c.append({"SET", k, std::to_string(i)});
    c.append({"GET", k});
    c.append({"ECHO", std::to_string(i)});
  }
  for (int i = 0; i < n; ++i) {
    EXPECT_EQ(c.read().str, "OK");
    EXPECT_EQ(c.read().str, std::to_string(i));
    EXPECT_EQ(c.read().str, std::to_string(i));
  }
  EXPECT_EQ(sql("SELECT value FROM wtcache_kv WHERE key = $1", k)[0][0].as<std::string>(),
            "\\x" + [] { std::string h; for (char ch : std::to_string(n - 1)) { char b[3]; std::snprintf(b, 3, "%02x", ch); h += b; } return h; }());
}

TEST_F(Service, ValuesAreBinarySafe) {
  resp_client c(port_);
  auto k = key();
  std::string value("\0\x01\xff\r\n$-1\r\n", 11);
  value += std::string(1 << 20, 'x');  // and large
  ASSERT_EQ(c.cmd({"SET", k, value}).str, "OK");
  EXPECT_EQ(c.cmd({"GET", k}).str, value);
  resp_client redis(servers::get().redis_port());
  redis.cmd({"DEL", "wtc:" + k});
  EXPECT_EQ(c.cmd({"GET", k}).str, value);
}

TEST_F(Service, AValueOverTheLimitIsRefusedAndTheConnectionStaysUsable) {
  resp_client c(port_);
  auto k = key();
  auto r = c.cmd({"SET", k, std::string(16 * 1024 * 1024 + 1, 'x')});
  EXPECT_EQ(r.str, "ERR value too large (16777217 bytes; the limit is 16777216)");
  EXPECT_EQ(c.cmd({"PING"}).str, "PONG");
  EXPECT_TRUE(c.cmd({"GET", k}).is_nil());
}

TEST_F(Service, MalformedRespClosesOnlyThatConnection) {
  resp_client other(port_);
  raw_socket s(port_);
  s.send("*1\r\n$4\r\nPING\r\n*1\r\n:oops\r\n");
  auto got = s.receive(7 + 44);
  EXPECT_EQ(got, "+PONG\r\n-ERR Protocol error: expected '$', got ':'\r\n");
  EXPECT_TRUE(s.closed_by_peer());
  EXPECT_EQ(other.cmd({"PING"}).str, "PONG");
}

// Cache hits are read over the cache reader's own connection to Redis. When
// Redis drops it, hits are still answered (through the Redis workers) and it
// connects again.
TEST_F(Service, CacheHitsGoOverTheCacheReadersOwnConnectionWhichComesBack) {
  resp_client c(port_);
  resp_client redis(servers::get().redis_port());
  // The reader's line in Redis's CLIENT LIST, empty while it has none.
  auto reader_line = [&] {
    auto list = redis.cmd({"CLIENT", "LIST"}).str;
    auto at = list.find(std::string(" name=") + reader_client_name + " ");
    if (at == std::string::npos)
      return std::string();
    auto begin = list.rfind('\n', at);
    begin = begin == std::string::npos ? 0 : begin + 1;
    return list.substr(begin, list.find('\n', at) - begin);
  };
  auto field_of = [](const std::string& line, const std::string& name) {
    auto at = line.find(name + "=");
    return at == std::string::npos ? std::string()
                                   : line.substr(at + name.size() + 1,
                                                 line.find(' ', at) - at - name.size() - 1);
  };
  ASSERT_TRUE(eventually([&] { return info_field(c, "cache_reader") == "up"; }));
  auto k = key();
  ASSERT_EQ(c.cmd({"SET", k, "v1"}).str, "OK");
  EXPECT_EQ(c.cmd({"GET", k}).str, "v1");
  auto line = reader_line();
  ASSERT_FALSE(line.empty());
  EXPECT_EQ(field_of(line, "cmd"), "hmget") << line;

  auto connects = std::stoll(info_field(c, "cache_reader_connections"));
  auto misses = info_field(c, "keyspace_misses");
  EXPECT_EQ(redis.cmd({"CLIENT", "KILL", "ID", field_of(line, "id")}).number, 1);
  // Answered throughout: by the reader's fallback while it notices, then
  // by the workers until it is back.
  for (int i = 0; i < 20; ++i)
    ASSERT_EQ(c.cmd({"GET", k}).str, "v1");
  ASSERT_TRUE(eventually([&] {
    return info_field(c, "cache_reader") == "up" &&
           std::stoll(info_field(c, "cache_reader_connections")) == connects + 1;
  }));
  // A new connection, and it serves the hits again (nothing else sends
  // HMGET over it).
  EXPECT_EQ(c.cmd({"GET", k}).str, "v1");
  auto again = reader_line();
  ASSERT_FALSE(again.empty());
  EXPECT_NE(field_of(again, "id"), field_of(line, "id"));
  EXPECT_EQ(field_of(again, "cmd"), "hmget") << again;
  // Every one of those GETs was a hit: none had to read the database.
  EXPECT_EQ(info_field(c, "keyspace_misses"), misses);
}

// /metrics after a known workload: each counter moved by exactly what the
// workload did, and promtool accepts the output.
TEST_F(Service, MetricsCountAKnownWorkloadAndPassPromtool) {
  ASSERT_NE(svc_->http_port(), 0);
  resp_client c(port_);
  auto k = key(), missing = key();
  ASSERT_EQ(c.cmd({"SET", k, "v"}).str, "OK");  // caches k
  auto before = http_get(svc_->http_port(), "/metrics");
  ASSERT_EQ(before.status, 200);
  EXPECT_NE(before.headers.find("Content-Type: text/plain; version=0.0.4"), std::string::npos);
  auto at = [](const std::string& text, const std::string& series) {
    auto v = metric(text, series);
    return v < 0 ? 0.0 : v;  // a series appears with its first sample
  };
  const std::string ns = "{namespace=\"wtcache_kv\"}";
  EXPECT_EQ(c.cmd({"GET", k}).str, "v");
  EXPECT_EQ(c.cmd({"GET", k}).str, "v");
  EXPECT_TRUE(c.cmd({"GET", missing}).is_nil());
  ASSERT_EQ(c.cmd({"SET", k, "w"}).str, "OK");
  ASSERT_EQ(c.cmd({"INCR", k}).kind, reply::error);  // not an integer
  ASSERT_EQ(c.cmd({"NOSUCHCOMMAND"}).kind, reply::error);
  auto after = http_get(svc_->http_port(), "/metrics");
  ASSERT_EQ(after.status, 200);
  auto moved = [&](const std::string& series) { return at(after.body, series) - at(before.body, series); };
  EXPECT_EQ(moved("wtcache_cache_hits_total" + ns), 2);
  EXPECT_EQ(moved("wtcache_cache_misses_total" + ns), 1);
  EXPECT_EQ(moved("wtcache_commands_total{command=\"get\"}"), 3);
  EXPECT_EQ(moved("wtcache_commands_total{command=\"set\"}"), 1);
  EXPECT_EQ(moved("wtcache_command_errors_total{command=\"set\"}"), 0);
  EXPECT_EQ(moved("wtcache_commands_total{command=\"incr\"}"), 1);
  EXPECT_EQ(moved("wtcache_command_errors_total{command=\"incr\"}"), 1);
  EXPECT_EQ(moved("wtcache_command_errors_total{command=\"other\"}"), 1);
  EXPECT_EQ(moved("wtcache_command_duration_seconds_count{command=\"get\"}"), 3);
  EXPECT_EQ(moved("wtcache_command_duration_seconds_bucket{command=\"get\",le=\"+Inf\"}"), 3);
  EXPECT_EQ(moved("wtcache_db_reads_total"), 1);  // the missing key
  EXPECT_GE(moved("wtcache_writes_total"), 1);
  EXPECT_GE(moved("wtcache_db_call_duration_seconds_count{call=\"transaction\"}"), 1);
  EXPECT_EQ(at(after.body, "wtcache_circuit_breaker_state{backend=\"redis\"}"), 0);
  EXPECT_EQ(at(after.body, "wtcache_pool_size{backend=\"postgres\"}"),
            static_cast<double>(suite_config().postgres_pool));
  auto ratio = metric(after.body, "wtcache_cache_hit_ratio" + ns);
  EXPECT_GT(ratio, 0);
  EXPECT_LE(ratio, 1);
  std::string lint;
  EXPECT_EQ(promtool_check_metrics(after.body, lint), 0) << lint;
  EXPECT_EQ(lint, "");
}

// INFO over RESP shows the figures /metrics shows, in Redis's INFO style.
TEST_F(Service, InfoShowsTheSameFiguresAsMetrics) {
  resp_client c(port_);
  auto k = key();
  ASSERT_EQ(c.cmd({"SET", k, "v"}).str, "OK");
  EXPECT_EQ(c.cmd({"GET", k}).str, "v");
  auto metrics = http_get(svc_->http_port(), "/metrics").body;
  auto info = c.cmd({"INFO", "all"}).str;
  auto field_in = [&](const std::string& line_start, const std::string& name) -> double {
    auto at = info.find("\n" + line_start);
    if (at == std::string::npos)
      return -1;
    auto eol = info.find('\r', at);
    auto line = info.substr(at + 1, eol - at - 1);
    auto f = line.find(name + "=");
    return f == std::string::npos ? -1 : std::stod(line.substr(f + name.size() + 1));
  };
  EXPECT_EQ(field_in("cmdstat_get:", "calls"),
            metric(metrics, "wtcache_commands_total{command=\"get\"}")) << info;
  EXPECT_EQ(field_in("cmdstat_set:", "calls"),
            metric(metrics, "wtcache_commands_total{command=\"set\"}"));
  EXPECT_EQ(field_in("ns_wtcache_kv:", "hits"),
            metric(metrics, "wtcache_cache_hits_total{namespace=\"wtcache_kv\"}"));
  EXPECT_EQ(field_in("ns_wtcache_kv:", "misses"),
            metric(metrics, "wtcache_cache_misses_total{namespace=\"wtcache_kv\"}"));
  EXPECT_EQ(field_in("db_transactions_latency:", "calls"),
            metric(metrics, "wtcache_db_call_duration_seconds_count{call=\"transaction\"}"));
  EXPECT_GT(field_in("latency_percentiles_usec_get:", "p50"), 0) << info;
  EXPECT_NE(info.find("postgres_pool_size:" + std::to_string(suite_config().postgres_pool)),
            std::string::npos);
  // The default INFO leaves the per-command sections out, as Redis does.
  EXPECT_EQ(c.cmd({"INFO"}).str.find("# Commandstats"), std::string::npos);
}

TEST_F(Service, TheHttpEndpointAnswersHealthAndReadinessAndNothingElse) {
  auto health = http_get(svc_->http_port(), "/healthz");
  EXPECT_EQ(health.status, 200);
  EXPECT_EQ(health.body, "{\"alive\":true}\n");
  auto ready = http_get(svc_->http_port(), "/readyz");
  EXPECT_EQ(ready.status, 200) << ready.body;
  EXPECT_EQ(ready.body.rfind("{\"ready\":true,", 0), 0u) << ready.body;
  EXPECT_EQ(http_get(svc_->http_port(), "/nothing").status, 404);
  EXPECT_EQ(http_request(svc_->http_port(), "POST", "/metrics").status, 405);
  raw_socket junk(svc_->http_port());
  junk.send("hello\r\n\r\n");
  EXPECT_EQ(junk.receive(1 << 20).rfind("HTTP/1.1 400 ", 0), 0u);
  // HEAD: the status and headers, no body; /readyz probes for it too.
  auto head = http_request(svc_->http_port(), "HEAD", "/healthz");
  EXPECT_EQ(head.status, 200);
  EXPECT_NE(head.headers.find("Content-Length: 15"), std::string::npos) << head.headers;
  EXPECT_EQ(head.body, "");
  auto head_ready = http_request(svc_->http_port(), "HEAD", "/readyz");
  EXPECT_EQ(head_ready.status, 200) << head_ready.headers;
  EXPECT_EQ(head_ready.body, "");
  EXPECT_NE(http_request(svc_->http_port(), "PUT", "/healthz").headers.find("Allow: GET, HEAD"),
            std::string::npos);
}

// One request per connection: bytes after it start nothing more (here, no
// further readiness probes of Redis).
TEST_F(Service, BytesAfterAnHttpRequestAreIgnored) {
  resp_client redis(servers::get().redis_port());
  auto info_calls = [&] {
    auto text = redis.cmd({"INFO", "commandstats"}).str;
    auto at = text.find("cmdstat_info:calls=");
    return at == std::string::npos ? 0 : std::stoll(text.substr(at + 19));
  };
  auto before = info_calls();
  raw_socket s(svc_->http_port());
  std::string flood = "GET /readyz HTTP/1.1\r\nHost: x\r\n\r\n";
  for (int i = 0; i < 2000; ++i)  // some 50 KB: a dozen reads
    flood += "GET /readyz HTTP/1.1\r\n\r\n";
  s.send(flood);
  auto answer = s.receive(1 << 20);
  EXPECT_EQ(answer.rfind("HTTP/1.1 200 ", 0), 0u) << answer;
  EXPECT_EQ(answer.find("HTTP/1.1", 1), std::string::npos);  // one response
  // INFO memory and INFO stats once per Redis worker, the periodic look at
  // most once more, and this test's own INFO.
  auto pool = static_cast<long long>(suite_config().redis_pool);
  EXPECT_LE(info_calls() - before, 2 * pool + 2 + 1);
}

TEST_F(Service, ConnectionCommandsAnswerLikeRedis) {
  resp_client c(port_);
  EXPECT_EQ(c.cmd({"PING"}).str, "PONG");
  EXPECT_EQ(c.cmd({"ECHO", "hi"}).str, "hi");
  EXPECT_EQ(c.cmd({"SELECT", "0"}).str, "OK");
  EXPECT_EQ(c.cmd({"CLIENT", "SETNAME", "tester"}).str, "OK");
  EXPECT_TRUE(c.cmd({"HELLO", "3"}).is_error());
  EXPECT_EQ(c.cmd({"COMMAND", "DOCS"}).kind, reply::array);
  EXPECT_EQ(c.cmd({"NOSUCH", "a"}).str, "ERR unknown command 'NOSUCH', with args beginning with: 'a' ");
  EXPECT_EQ(c.cmd({"GET"}).str, "ERR wrong number of arguments for 'get' command");
  raw_socket s(port_);
  s.send("QUIT\r\nPING\r\n");
  EXPECT_EQ(s.receive(5), "+OK\r\n");
  EXPECT_TRUE(s.closed_by_peer());
}

TEST_F(Service, InfoReportsServerAndStats) {
  resp_client c(port_);
  auto k = key();
  c.cmd({"SET", k, "v"});
  c.cmd({"GET", k});
  auto text = c.cmd({"INFO"}).str;
  for (const char* f : {"# Server", "# Stats", "total_commands_processed:", "keyspace_hits:",
                        "keyspace_misses:", "hit_ratio:", "writes:", "write_latency_p50_us:",
                        "write_latency_p99_us:"})
    EXPECT_NE(text.find(f), std::string::npos) << f;
  EXPECT_GT(std::stoll(info_field(c, "writes")), 0);
  EXPECT_EQ(c.cmd({"INFO", "stats"}).str.find("# Server"), std::string::npos);
}

// The classic stale-set race: a read-through that read the row before a
// write committed must not put its older value over the write's.
TEST_F(Service, ASlowFillDoesNotOverwriteANewerWrite) {
  resp_client c(port_);
  auto k = key();
  set_then_evict(c, k, "old");
  fill_gate_->arm(k);
  int held = *fill_gate_->held;
  auto slow_get = std::async(std::launch::async, [&] {
    resp_client reader(port_);
    return reader.cmd({"GET", k});
  });
  ASSERT_TRUE(eventually([&] { return *fill_gate_->held == held + 1; }));  // read "old", fill held
  ASSERT_EQ(c.cmd({"SET", k, "new"}).str, "OK");
  fill_gate_->release(k);
  EXPECT_EQ(slow_get.get().str, "old");  // concurrent with the write: either is fine
  EXPECT_EQ(c.cmd({"GET", k}).str, "new");
  EXPECT_EQ(field(redis_entry(k), "d"), "new");
}

TEST_F(Service, ConcurrentMissesOfOneKeyMakeOneDatabaseRead) {
  resp_client c(port_);
  auto k = key();
  set_then_evict(c, k, "shared");
  fill_gate_->arm(k);
  auto reads_before = std::stoll(info_field(c, "db_reads"));
  auto misses_before = std::stoll(info_field(c, "keyspace_misses"));
  constexpr int readers = 8;
  std::vector<std::future<reply>> gets;
  for (int i = 0; i < readers; ++i)
    gets.push_back(std::async(std::launch::async, [&] {
      resp_client reader(port_);
      return reader.cmd({"GET", k});
    }));
  ASSERT_TRUE(eventually([&] {
    return std::stoll(info_field(c, "keyspace_misses")) == misses_before + readers;
  }));
  fill_gate_->release(k);
  for (auto& g : gets)
    EXPECT_EQ(g.get().str, "shared");
  EXPECT_EQ(std::stoll(info_field(c, "db_reads")), reads_before + 1);
}

// If the cache update after a commit fails, the write is still acknowledged
// (the database is the truth), the key is dirty and its reads bypass the
// cache, and when Redis is back the stale copy is invalidated before the
// cache is trusted again.
TEST_F(Service, ADirtyKeyIsNeverReadStaleAndIsInvalidatedWhenRedisReturns) {
  resp_client c(port_);
  auto k = key();
  ASSERT_EQ(c.cmd({"SET", k, "v1"}).str, "OK");
  write_gate_->arm(k);
  int held = *write_gate_->held;
  auto write = std::async(std::launch::async, [&] {
    resp_client writer(port_);
    return writer.cmd({"SET", k, "v2"});
  });
  ASSERT_TRUE(eventually([&] { return *write_gate_->held == held + 1; }));  // committed
  servers::get().stop_redis();  // its data still holds v1
  write_gate_->release(k);
  EXPECT_EQ(write.get().str, "OK");
  EXPECT_EQ(sql("SELECT value FROM wtcache_kv WHERE key = $1", k)[0][0].as<std::string>(),
            "\\x7632");
  EXPECT_EQ(c.cmd({"GET", k}).str, "v2");
  EXPECT_GE(std::stoll(info_field(c, "dirty_keys")), 1);
  servers::get().start_redis();
  // The stale copy came back with Redis, unless the retry loop was quicker.
  auto back = redis_entry(k);
  EXPECT_TRUE(field(back, "d") == "v1" || field(back, "k") == "t") << back;
  bool cleared = eventually([&] {
    EXPECT_EQ(c.cmd({"GET", k}).str, "v2");
    return std::stoll(info_field(c, "dirty_keys")) == 0;
  }, 20s);
  ASSERT_TRUE(cleared);
  EXPECT_EQ(c.cmd({"GET", k}).str, "v2");
  EXPECT_EQ(field(redis_entry(k), "d"), "v2");  // refilled at the write's version
}

// Every request has a deadline: a write stuck after its COMMIT is answered in
// time, and the answer does not claim it failed.
TEST_F(Service, AWriteThatMissesItsDeadlineSaysTheOutcomeIsUnknown) {
  resp_client c(port_);
  auto k = key();
  write_gate_->arm(k);
  auto start = std::chrono::steady_clock::now();
  auto r = c.cmd({"SET", k, "late"});
  auto waited = std::chrono::steady_clock::now() - start;
  // The shard gives up on the transaction (its worker is held after COMMIT)
  // a little before the client's deadline, whichever answers first.
  EXPECT_EQ(r.str.rfind("ERR outcome unknown: ", 0), 0u) << r.str;
  EXPECT_GE(waited, 1500ms);
  EXPECT_LT(waited, 10s);  // a hang would be caught here
  write_gate_->release(k);
  // It had committed: the row is there, and reads agree with it.
  EXPECT_TRUE(eventually([&] { return c.cmd({"GET", k}).str == "late"; }));
  EXPECT_EQ(sql("SELECT 1 FROM wtcache_kv WHERE key = $1", k).size(), 1u);
}

// Before a write commits, its key gets a tombstone at the new version: when
// the transaction becomes visible, no reader anywhere can be served the
// older cached value, even if this process died before its cache update.
TEST_F(Service, ATombstoneAtTheNewVersionIsInRedisBeforeTheCacheUpdate) {
  resp_client c(port_);
  auto k = key();
  ASSERT_EQ(c.cmd({"SET", k, "old"}).str, "OK");
  ASSERT_EQ(field(redis_entry(k), "d"), "old");
  auto hold = hold_shard_with(k, port_);  // committed, cache update not yet sent
  auto row = sql("SELECT version FROM wtcache_kv WHERE key = $1", k);
  ASSERT_EQ(row.size(), 1u);
  auto entry = redis_entry(k);
  EXPECT_EQ(field(entry, "k"), "t") << entry;
  EXPECT_EQ(field(entry, "v"), row[0][0].as<std::string>());
  EXPECT_TRUE(sql("SELECT 1 FROM wtcache_dirty_keys WHERE key = $1", k).empty());
  write_gate_->release(k);
  EXPECT_EQ(hold.get().str, "OK");
  entry = redis_entry(k);  // the value replaced its own tombstone
  EXPECT_EQ(field(entry, "k"), "v");
  EXPECT_EQ(field(entry, "d"), "held");
  EXPECT_EQ(field(entry, "v"), row[0][0].as<std::string>());
}

// A lone SET goes in pipelined with its BEGIN; when PostgreSQL refuses it,
// its error is the answer, and every worker is fit for the next writes (none is left mid-pipeline or in an aborted transaction).
TEST_F(Service, ALoneSetThatPostgresRefusesFailsAloneAndLeavesTheWorkersFit) {
  resp_client c(port_);
  for (int i = 0; i < 8; ++i) {  // more than there are workers
    auto r = c.cmd({"SET", "session:not-a-number-" + std::to_string(i), "{}"});
    EXPECT_TRUE(r.is_error()) << r;
    EXPECT_NE(r.str.find("invalid input syntax for type bigint"), std::string::npos) << r;
  }
  for (int i = 0; i < 8; ++i) {
    auto k = key();
    ASSERT_EQ(c.cmd({"SET", k, "fine"}).str, "OK");
    EXPECT_EQ(c.cmd({"GET", k}).str, "fine");
  }
}

// Group commit: writes that arrive while a transaction is in flight share the
// next one, and one bad command among them fails alone.
TEST_F(Service, WritesQueuedBehindATransactionCommitTogetherAndABadOneFailsAlone) {
  resp_client c(port_);
  auto first = key();
  auto a = key_beside(first), b = key_beside(first);
  auto bad = key_beside(first, "session:x");  // not a bigint: PostgreSQL refuses it
  auto hold = hold_shard_with(first, port_);
  auto queued_before = std::stoll(info_field(c, "queued_writes"));
  auto transactions_before = std::stoll(info_field(c, "db_transactions"));
  std::vector<std::future<reply>> writes;
  for (auto& [k, v] : std::vector<std::pair<std::string, std::string>>{{a, "1"}, {bad, "{}"}, {b, "2"}})
    writes.push_back(std::async(std::launch::async, [&, k = k, v = v] {
      resp_client w(port_);
      return w.cmd({"SET", k, v});
    }));
  ASSERT_TRUE(eventually([&] { return std::stoll(info_field(c, "queued_writes")) == queued_before + 3; }));
  write_gate_->release(first);
  EXPECT_EQ(hold.get().str, "OK");
  EXPECT_EQ(writes[0].get().str, "OK");
  auto refused = writes[1].get();
  EXPECT_TRUE(refused.is_error()) << refused;
  EXPECT_NE(refused.str.find("invalid input syntax for type bigint"), std::string::npos) << refused;
  EXPECT_EQ(writes[2].get().str, "OK");
  // The held one (counted when its worker answers, after the cache update)
  // and one more for the three queued ones.
  EXPECT_EQ(std::stoll(info_field(c, "db_transactions")), transactions_before + 2);
  EXPECT_EQ(sql("SELECT 1 FROM wtcache_kv WHERE key IN ($1, $2)", a, b).size(), 2u);
  EXPECT_EQ(c.cmd({"GET", a}).str, "1");
  EXPECT_EQ(c.cmd({"GET", b}).str, "2");
}

// Group commit writes a batch of SETs with one statement per namespace; a
// key set twice in it: both are acknowledged, in order, and the later wins
// in the row and in the cache.
TEST_F(Service, AKeySetTwiceInOneBatchEndsWithTheLaterValue) {
  resp_client c(port_);
  auto first = key();
  auto k = key_beside(first), other = key_beside(first);
  // A jsonb row in the same batch: the cache gets the text as stored.
  std::string session;
  for (int i = 900000 + counter_ * 1000;; ++i)
    if (shard_of("session:" + std::to_string(i), 4) == shard_of(first, 4)) {
      session = "session:" + std::to_string(i);
      break;
    }
  auto hold = hold_shard_with(first, port_);
  auto queued = std::stoll(info_field(c, "queued_writes"));
  auto transactions_before = std::stoll(info_field(c, "db_transactions"));
  std::vector<std::future<reply>> writes;
  for (auto& [kk, v] : std::vector<std::pair<std::string, std::string>>{
         {k, "earlier"}, {other, "x"}, {session, "{\"a\":1}"}, {k, "later"}}) {
    writes.push_back(std::async(std::launch::async, [&, kk = kk, v = v] {
      resp_client w(port_);
      return w.cmd({"SET", kk, v});
    }));
    // One at a time, so that they queue in this order.
    ++queued;
    ASSERT_TRUE(eventually([&] { return std::stoll(info_field(c, "queued_writes")) == queued; }));
  }
  write_gate_->release(first);
  EXPECT_EQ(hold.get().str, "OK");
  for (auto& w : writes)
    EXPECT_EQ(w.get().str, "OK");
  // The held one, counted once its worker answers, and the batch of four.
  EXPECT_EQ(std::stoll(info_field(c, "db_transactions")), transactions_before + 2);
  auto row = sql("SELECT convert_from(value, 'UTF8'), version FROM wtcache_kv WHERE key = $1", k);
  ASSERT_EQ(row.size(), 1u);
  EXPECT_EQ(row[0][0].as<std::string>(), "later");
  EXPECT_EQ(field(redis_entry(k), "d"), "later");
  EXPECT_EQ(field(redis_entry(k), "v"), row[0][1].as<std::string>());
  EXPECT_EQ(c.cmd({"GET", other}).str, "x");
  EXPECT_EQ(field(redis_entry(session), "d"), "{\"a\": 1}");
}

// A batch of SETs goes in as one statement, casting its arrays to the
// columns' types: a value too long for a varchar(n) column must fail its own
// command, as it does alone, never be cut short to fit.
TEST_F(Service, ABatchedValueTooLongForItsColumnFailsAloneAndIsNotCut) {
  sql("CREATE TABLE IF NOT EXISTS short_notes (id varchar(12) PRIMARY KEY, "
      "note varchar(4) NOT NULL, version bigint NOT NULL DEFAULT 0)");
  auto notes = start_service_with([](config& cfg) {
    namespace_config ns;
    ns.prefix = "note:";
    ns.table = "short_notes";
    ns.key_column = "id";
    ns.value_column = "note";
    ns.type = value_type::text;
    cfg.namespaces.push_back(ns);
    cfg.shards = 1;  // every key in one shard, so that the writes share a batch
  });
  resp_client c(notes->port());
  auto hold = hold_shard_with("note:first", notes->port());
  auto queued = std::stoll(info_field(c, "queued_writes"));
  std::vector<std::future<reply>> writes;
  for (auto& [k, v] : std::vector<std::pair<std::string, std::string>>{
         {"note:fits", "abcd"}, {"note:long", "abcdefgh"}, {"note:also", "xy"}}) {
    writes.push_back(std::async(std::launch::async, [&, k = k, v = v] {
      resp_client w(notes->port());
      return w.cmd({"SET", k, v});
    }));
    ++queued;
    ASSERT_TRUE(eventually([&] { return std::stoll(info_field(c, "queued_writes")) == queued; }));
  }
  write_gate_->release("note:first");
  EXPECT_EQ(hold.get().str, "OK");
  EXPECT_EQ(writes[0].get().str, "OK");
  auto refused = writes[1].get();
  EXPECT_NE(refused.str.find("value too long"), std::string::npos) << refused;
  EXPECT_EQ(writes[2].get().str, "OK");
  EXPECT_TRUE(sql("SELECT 1 FROM short_notes WHERE id = 'long'").empty());
  EXPECT_EQ(sql("SELECT note FROM short_notes WHERE id = 'fits'")[0][0].as<std::string>(), "abcd");
  EXPECT_EQ(c.cmd({"GET", "note:also"}).str, "xy");
  notes->stop();
  sql("DROP TABLE short_notes");
}

// Only a key's newest write decides its cache TTL, and a DEL's tombstone
// always lives tombstone_ttl: a short TTL must not let an old value back in.
TEST_F(Service, ADeleteBatchedAfterAShortLivedSetLeavesAFullTombstone) {
  resp_client c(port_);
  resp_client redis(servers::get().redis_port());
  auto first = key();
  auto k = key_beside(first);
  ASSERT_EQ(c.cmd({"SET", k, "old"}).str, "OK");
  auto hold = hold_shard_with(first, port_);
  auto queued_before = std::stoll(info_field(c, "queued_writes"));
  resp_client pipe(port_);
  pipe.append({"SET", k, "brief", "PX", "1"});
  pipe.append({"DEL", k});
  pipe.flush();
  ASSERT_TRUE(eventually([&] { return std::stoll(info_field(c, "queued_writes")) == queued_before + 2; }));
  write_gate_->release(first);
  EXPECT_EQ(hold.get().str, "OK");
  EXPECT_EQ(pipe.read().str, "OK");
  EXPECT_EQ(pipe.read().number, 1);
  EXPECT_EQ(field(redis_entry(k), "k"), "t");
  EXPECT_GT(redis.cmd({"PTTL", "wtc:" + k}).number, 50 * 1000);  // tombstone_ttl = 60 s
  // And a very short TTL is raised to outlive a fill in flight (2 x redis timeout).
  ASSERT_EQ(c.cmd({"SET", k, "brief", "PX", "1"}).str, "OK");
  EXPECT_GT(redis.cmd({"PTTL", "wtc:" + k}).number, 900);
}

// Bounded resources: a shard's write queue has a limit, and a write beyond
// it is refused at once with -BUSY instead of waiting or growing memory.
TEST_F(Service, AFullWriteQueueAnswersBusy) {
  auto small = start_service_with([](config& cfg) { cfg.max_queued_writes = 2; });
  resp_client c(small->port());
  auto first = key();
  auto hold = hold_shard_with(first, small->port());
  std::vector<std::future<reply>> queued;
  for (int i = 0; i < 2; ++i)
    queued.push_back(std::async(std::launch::async, [&, k = key_beside(first)] {
      resp_client w(small->port());
      return w.cmd({"SET", k, "q"});
    }));
  ASSERT_TRUE(eventually([&] { return small->metrics().queued_writes.load() == 2; }));
  EXPECT_EQ(c.cmd({"SET", key_beside(first), "over"}).str, "BUSY write queue full; retry later");
  write_gate_->release(first);
  EXPECT_EQ(hold.get().str, "OK");
  for (auto& q : queued)
    EXPECT_EQ(q.get().str, "OK");
}

// Bounded resources: a client that asks for more than it reads is cut off
// once its unsent replies pass the limit and stop draining; other clients
// are unaffected.
TEST_F(Service, AClientThatDoesNotReadItsRepliesIsCutOff) {
  auto small = start_service_with([](config& cfg) { cfg.max_reply_buffer_bytes = 4 * 1024 * 1024; });
  resp_client c(small->port());
  auto k = key();
  ASSERT_EQ(c.cmd({"SET", k, std::string(1024 * 1024, 'x')}).str, "OK");
  raw_socket greedy(small->port());
  auto get = "*2\r\n$3\r\nGET\r\n$" + std::to_string(k.size()) + "\r\n" + k + "\r\n";
  // It keeps asking for 1 MiB replies and never reads one; the server cuts it
  // off (its sends then fail with a reset) instead of buffering without end.
  EXPECT_TRUE(eventually([&] { return !greedy.try_send(get); }, 30s));
  EXPECT_EQ(c.cmd({"PING"}).str, "PONG");
}

// Reading stops at max_pipeline unanswered commands and must always resume:
// a long pipeline through a tiny window still completes, in order.
TEST_F(Service, ALongPipelineThroughASmallWindowCompletesInOrder) {
  auto small = start_service_with([](config& cfg) { cfg.max_pipeline = 4; });
  resp_client c(small->port());
  auto k = key();
  constexpr int n = 2000;
  for (int i = 0; i < n; ++i) {
    c.append({"SET", k, std::to_string(i)});
    c.append({"GET", k});
  }
  for (int i = 0; i < n; ++i) {
    ASSERT_EQ(c.read().str, "OK") << i;
    ASSERT_EQ(c.read().str, std::to_string(i)) << i;
  }
}

// A command with more keys than a batch or a lookup window still works as
// one command: MSET stays one transaction, MGET answers every key in order.
TEST_F(Service, CommandsWithThousandsOfKeysWork) {
  resp_client c(port_);
  constexpr int n = 3000;  // above max_batch_ops (1000) and the lookup window (256)
  std::vector<std::string> mset = {"MSET"}, mget = {"MGET"};
  for (int i = 0; i < n; ++i) {
    auto k = key();
    mset.insert(mset.end(), {k, "v" + std::to_string(i)});
    mget.push_back(k);
  }
  ASSERT_EQ(c.cmd(mset).str, "OK");
  auto got = c.cmd(mget);
  ASSERT_EQ(got.elements.size(), static_cast<std::size_t>(n)) << got.str;
  for (int i = 0; i < n; ++i)
    ASSERT_EQ(got.elements[i].str, "v" + std::to_string(i)) << i;
}
