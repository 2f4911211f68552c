// The typed embedding API (messages/cache_api.hpp, app/client.hpp) against
// real servers: each call, its errors, its promises, and the service
// stopping under it.
#include <limits>
#include <mutex>
#include <sstream>
#include <thread>

#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>

#include <caf/event_based_actor.hpp>
#include <caf/scoped_actor.hpp>

#include "app/client.hpp"
#include "messages/errors.hpp"
#include "tests/support/log_capture.hpp"
#include "tests/support/service_fixture.hpp"

namespace wtcache::test {
namespace {

using namespace std::chrono_literals;

// The code and Redis text of an error.
struct failure {
  ec code = ec::none;
  std::string text;
};

template <class T>
failure failure_of(const caf::expected<T>& x) {
  if (x)
    return {};
  const auto& err = x.error();
  if (err.category() != caf::atom("wtcache"))
    return {ec::none, "not a wtcache error: " + client_error_text(err)};
  return {static_cast<ec>(err.code()), error_detail(err)};
}

class Api : public Service {
protected:
  blocking_client client() { return blocking_client{*sys_, svc_->cache()}; }

  static std::string row_value(const std::string& id) {
    auto r = sql("SELECT value FROM wtcache_kv WHERE key = $1", id);
    if (r.empty())
      return "<no row>";
    return pqxx::binarystring(r[0][0]).str();
  }
};

TEST_F(Api, SetGetAndDelLandInPostgreSQLAndTheCache) {
  auto c = client();
  auto k = key();
  auto set = c.set(k, std::string("v\0alue", 6));
  ASSERT_TRUE(set) << client_error_text(set.error());
  EXPECT_TRUE(set->applied);
  EXPECT_GT(set->version, 0);
  EXPECT_EQ(row_value(k), std::string("v\0alue", 6));  // committed before the answer
  EXPECT_EQ(field(redis_entry(k), "d"), std::string("v\0alue", 6));
  auto got = c.get(k);
  ASSERT_TRUE(got);
  ASSERT_TRUE(got->has_value());
  EXPECT_EQ(**got, std::string("v\0alue", 6));
  EXPECT_EQ(*c.get(k + "-absent"), std::nullopt);

  auto k2 = key();
  ASSERT_TRUE(c.set(k2, "two"));
  auto many = c.mget({k, k + "-absent", k2});
  ASSERT_TRUE(many);
  ASSERT_EQ(many->size(), 3u);
  EXPECT_EQ((*many)[1], std::nullopt);
  EXPECT_EQ((*many)[2], std::optional<std::string>("two"));

  // Keys of several shards in one DEL: one transaction.
  auto gone = c.del({k, k2, k + "-absent"});
  ASSERT_TRUE(gone);
  EXPECT_EQ(*gone, 2);
  EXPECT_EQ(row_value(k), "<no row>");
  EXPECT_EQ(*c.get(k2), std::nullopt);
}

// An MGET of more keys than it keeps in flight (256): every answer in its
// place.
TEST_F(Api, AnMgetLongerThanItsWindowAnswersEveryKeyInOrder) {
  auto c = client();
  auto base = key();
  std::vector<std::string> keys;
  for (int i = 0; i < 600; ++i)
    keys.push_back(base + "-" + std::to_string(i));
  std::vector<txn_op> sets;
  for (int i = 0; i < 600; i += 2)
    sets.push_back(txn_op{txn_op::set, keys[i], "v" + std::to_string(i), 0, {}});
  ASSERT_TRUE(c.transaction(sets));
  auto got = c.mget(keys);
  ASSERT_TRUE(got) << client_error_text(got.error());
  ASSERT_EQ(got->size(), keys.size());
  for (int i = 0; i < 600; ++i)
    EXPECT_EQ((*got)[i], i % 2 ? std::nullopt : std::optional<std::string>("v" + std::to_string(i)))
      << keys[i];
}

TEST_F(Api, SetConditionsAndTheOldValueAreDecidedByTheRow) {
  auto c = client();
  auto k = key();
  set_options nx;
  nx.when = set_options::if_absent;
  EXPECT_TRUE(c.set(k, "first", nx)->applied);
  // The cache entry gone, NX must still see the row.
  resp_client r(servers::get().redis_port());
  r.cmd({"DEL", cache_key(k)});
  auto again = c.set(k, "second", nx);
  ASSERT_TRUE(again);
  EXPECT_FALSE(again->applied);
  EXPECT_EQ(row_value(k), "first");

  set_options xx_get;
  xx_get.when = set_options::if_present;
  xx_get.get_old = true;
  auto swapped = c.set(k, "third", xx_get);
  ASSERT_TRUE(swapped);
  EXPECT_TRUE(swapped->applied);
  EXPECT_TRUE(swapped->old.found);
  EXPECT_EQ(swapped->old.bytes, "first");
  EXPECT_FALSE(c.set(key(), "x", xx_get)->applied);  // XX of an absent key
}

TEST_F(Api, CountersAndExpiryActOnTheValue) {
  auto c = client();
  auto k = key();
  EXPECT_EQ(*c.incrby(k, 5), 5);
  EXPECT_EQ(*c.incrby(k, -7), -2);
  EXPECT_EQ(row_value(k), "-2");
  EXPECT_EQ(*c.ttl(k), -1);
  EXPECT_EQ(*c.ttl(k + "-absent"), -2);
  EXPECT_TRUE(*c.expire(k, 60s));
  auto left = *c.ttl(k);
  EXPECT_GT(left, 55000);
  EXPECT_LE(left, 60000);
  EXPECT_FALSE(*c.expire(k + "-absent", 60s));
  // INCRBY keeps the expiry; SET PX sets one; KEEPTTL keeps it.
  EXPECT_EQ(*c.incrby(k, 1), -1);
  EXPECT_GT(*c.ttl(k), 55000);
  set_options px;
  px.ttl_ms = 120000;
  ASSERT_TRUE(c.set(k, "v", px));
  EXPECT_GT(*c.ttl(k), 115000);
  set_options keep;
  keep.keep_ttl = true;
  ASSERT_TRUE(c.set(k, "w", keep));
  EXPECT_GT(*c.ttl(k), 115000);
  // A value that expires is absent everywhere, also after the cache is gone.
  ASSERT_TRUE(c.expire(k, 1ms));
  EXPECT_TRUE(eventually([&] { return *c.get(k) == std::nullopt; }));
  resp_client r(servers::get().redis_port());
  r.cmd({"DEL", cache_key(k)});
  EXPECT_EQ(*c.get(k), std::nullopt);
  EXPECT_EQ(*c.ttl(k), -2);
  // ms <= 0 deletes, as PEXPIRE does.
  ASSERT_TRUE(c.set(k, "again"));
  EXPECT_TRUE(*c.expire(k, 0ms));
  EXPECT_EQ(row_value(k), "<no row>");
}

TEST_F(Api, BadRequestsGetTheRedisErrorAndChangeNothing) {
  auto c = client();
  // Invalid JSON for the jsonb column of session:.
  auto bad_json = c.set("session:" + std::to_string(900000 + ++counter_), "{not json");
  EXPECT_EQ(failure_of(bad_json).code, ec::client_error);
  EXPECT_NE(failure_of(bad_json).text.find("JSON"), std::string::npos) << failure_of(bad_json).text;
  // Not an integer.
  auto k = key();
  ASSERT_TRUE(c.set(k, "abc"));
  auto incr = c.incrby(k, 1);
  EXPECT_EQ(failure_of(incr).code, ec::client_error);
  EXPECT_EQ(failure_of(incr).text, "ERR value is not an integer or out of range");
  EXPECT_EQ(row_value(k), "abc");
  // Options that contradict each other, an expiry out of range, a NUL in a key.
  set_options both;
  both.keep_ttl = true;
  both.ttl_ms = 10;
  EXPECT_EQ(failure_of(c.set(k, "x", both)).text, "ERR syntax error");
  set_options negative;
  negative.ttl_ms = -5;
  EXPECT_EQ(failure_of(c.set(k, "x", negative)).text, "ERR invalid expire time in 'set' command");
  EXPECT_EQ(failure_of(c.set(std::string("views:a\0b", 9), "1")).code, ec::client_error);
  EXPECT_EQ(failure_of(c.expire(k, std::chrono::milliseconds(std::numeric_limits<int64_t>::min())))
              .text,
            "ERR invalid expire time in 'pexpire' command");
  EXPECT_EQ(failure_of(c.transaction(std::vector<txn_op>(10001))).code, ec::client_error);
  // Write-through and write-behind keys in one DEL or transaction.
  auto mixed = c.del({k, "cart:" + k});
  EXPECT_EQ(failure_of(mixed).code, ec::client_error);
  EXPECT_NE(failure_of(mixed).text.find("mixes write-through and write-behind"), std::string::npos);
  EXPECT_EQ(row_value(k), "abc");
}

TEST_F(Api, ATransactionAppliesEveryWriteOrTheFailingOneAlone) {
  auto c = client();
  auto a = key(), b = key(), n = key();
  ASSERT_TRUE(c.set(n, "not a number"));
  std::vector<txn_op> ops(4);
  ops[0].kind = txn_op::set;
  ops[0].key = a;
  ops[0].value = "A";
  ops[1].kind = txn_op::incrby;
  ops[1].key = b;
  ops[1].number = 3;
  ops[2].kind = txn_op::incrby;  // fails alone, as in EXEC
  ops[2].key = n;
  ops[2].number = 1;
  ops[3].kind = txn_op::del;
  ops[3].key = a + "-absent";
  auto r = c.transaction(ops);
  ASSERT_TRUE(r) << client_error_text(r.error());
  ASSERT_EQ(r->size(), 4u);
  EXPECT_TRUE((*r)[0].applied);
  EXPECT_EQ((*r)[1].number, 3);
  EXPECT_EQ((*r)[2].error, "ERR value is not an integer or out of range");
  EXPECT_FALSE((*r)[2].applied);
  EXPECT_FALSE((*r)[3].applied);
  EXPECT_EQ(row_value(a), "A");
  EXPECT_EQ(row_value(b), "3");
  EXPECT_EQ(row_value(n), "not a number");
  // An op that is wrong before anything runs: nothing applies.
  std::vector<txn_op> bad(2);
  bad[0].key = key();
  bad[0].value = "never";
  bad[1].key = "session:1";
  bad[1].value = "{broken";
  auto refused = c.transaction(bad);
  EXPECT_EQ(failure_of(refused).code, ec::client_error);
  EXPECT_EQ(row_value(bad[0].key), "<no row>");
}

// The stale-set race of read-through, through the API: a fill that read
// the old row before a write committed must not land over the write.
TEST_F(Api, ASlowFillDoesNotOverwriteANewerWrite) {
  auto c = client();
  auto k = key();
  ASSERT_TRUE(c.set(k, "old"));
  resp_client r(servers::get().redis_port());
  r.cmd({"DEL", cache_key(k)});
  fill_gate_->arm(k);
  int held = *fill_gate_->held;
  async_client reader{*sys_, svc_->cache()};
  auto slow = reader.get(k);
  ASSERT_TRUE(eventually([&] { return *fill_gate_->held == held + 1; }));
  ASSERT_TRUE(c.set(k, "new"));
  fill_gate_->release(k);
  ASSERT_TRUE(slow.get());  // concurrent with the write: either value is fine
  EXPECT_EQ(*c.get(k), std::optional<std::string>("new"));
  EXPECT_EQ(field(redis_entry(k), "d"), "new");
}

TEST_F(Api, BlockingClientsOnManyThreadsAtOnce) {
  auto counter = key();
  constexpr int threads = 8, each = 100;
  std::vector<std::thread> ts;
  std::atomic<int> failures{0};
  for (int t = 0; t < threads; ++t)
    ts.emplace_back([&, t] {
      blocking_client mine{*sys_, svc_->cache()};  // one per thread
      for (int i = 0; i < each; ++i) {
        if (!mine.incrby(counter, 1))
          ++failures;
        auto own = counter + "-" + std::to_string(t);
        if (!mine.set(own, std::to_string(i)) || *mine.get(own) != std::to_string(i))
          ++failures;
      }
    });
  for (auto& t : ts)
    t.join();
  EXPECT_EQ(failures, 0);
  EXPECT_EQ(row_value(counter), std::to_string(threads * each));
}

TEST_F(Api, FuturesAndEventBasedActorsGetTheSameAnswers) {
  async_client a{*sys_, svc_->cache()};
  auto k = key();
  auto set = a.set(k, "from a future");
  ASSERT_TRUE(set.get());
  auto got = a.get(k).get();
  ASSERT_TRUE(got);
  EXPECT_EQ(*got, std::optional<std::string>("from a future"));
  // An actor of the host's requests the handle itself.
  std::promise<std::string> seen;
  auto cache = svc_->cache();
  sys_->spawn([&seen, cache, k](caf::event_based_actor* self) {
    self->request(cache, 5s, atom::get::value, k)
      .then([&seen](const cache_value& v) { seen.set_value(v.found ? v.bytes : "<absent>"); },
            [&seen](caf::error& err) { seen.set_value("error " + client_error_text(err)); });
  });
  EXPECT_EQ(seen.get_future().get(), "from a future");
}

TEST_F(Api, AServiceWithoutListenersServesTheApi) {
  auto cfg = suite_config();
  cfg.listen_enabled = false;
  cfg.http_enabled = false;
  auto quiet = start_service(cfg);
  EXPECT_EQ(quiet->port(), 0);
  EXPECT_EQ(quiet->http_port(), 0);
  blocking_client c{*sys_, quiet->cache()};
  auto k = key();
  ASSERT_TRUE(c.set(k, "no sockets"));
  EXPECT_EQ(row_value(k), "no sockets");
  auto figures = quiet->snapshot();
  EXPECT_GE(figures.commands, 1u);
  EXPECT_GE(figures.writes, 1u);
  EXPECT_TRUE(figures.postgres_up);
  auto text = quiet->prometheus_text();
  EXPECT_NE(text.find("wtcache_build_info{version=\"" + std::string(version()) + "\"} 1"),
            std::string::npos);
  EXPECT_NE(text.find("wtcache_commands_total{command=\"set\"}"), std::string::npos) << text;
}

// Two services in one actor system, each with its own configuration: its
// own Redis key prefix and namespaces (services that share a table must
// share its cache too: they are then two nodes of one cluster).
TEST_F(Api, TwoServicesInOneActorSystemKeepTheirOwnConfigurations) {
  sql("CREATE TABLE IF NOT EXISTS api_second (id text PRIMARY KEY, v text NOT NULL, "
      "version bigint NOT NULL DEFAULT 0)");
  auto cfg = suite_config();
  cfg.redis_key_prefix = "other:";
  cfg.listen_enabled = false;
  cfg.http_enabled = false;
  namespace_config second_ns;
  second_ns.prefix = "second:";
  second_ns.table = "api_second";
  second_ns.key_column = "id";
  second_ns.value_column = "v";
  second_ns.type = value_type::text;
  cfg.namespaces = {cfg.namespaces.front(), second_ns};
  auto second = start_service(cfg);
  blocking_client one = client();
  blocking_client two{*sys_, second->cache()};
  auto id = key();
  ASSERT_TRUE(two.set("second:" + id, "via the second"));
  EXPECT_EQ(sql("SELECT v FROM api_second WHERE id = $1", id)[0][0].as<std::string>(),
            "via the second");
  resp_client r(servers::get().redis_port());
  EXPECT_EQ(field(r.cmd({"HGETALL", cache_key("second:" + id, "other:")}), "d"), "via the second");
  // To the first, second: is no namespace: its own key in wtcache_kv.
  EXPECT_EQ(*one.get("second:" + id), std::nullopt);
  ASSERT_TRUE(one.set("second:" + id, "via the first"));
  EXPECT_EQ(row_value("second:" + id), "via the first");
  EXPECT_EQ(*two.get("second:" + id), std::optional<std::string>("via the second"));
  EXPECT_EQ(second->snapshot().writes, 1u);
}

// The host's logger gets the service's lines; spdlog's default logger
// does not.
TEST_F(Api, TheServiceLogsThroughTheHostsLogger) {
  std::ostringstream host_lines;
  auto logger = std::make_shared<spdlog::logger>(
    "host", std::make_shared<spdlog::sinks::ostream_sink_mt>(host_lines));
  std::mutex m;
  std::vector<std::string> default_lines;
  watch_log([&](const std::string& line) {
    std::lock_guard<std::mutex> lock(m);
    default_lines.push_back(line);
  });
  auto cfg = suite_config();
  cfg.listen_enabled = false;
  cfg.logger = logger;
  auto svc = start_service(cfg);
  svc->stop();  // with write-behind namespaces, it logs the drain
  watch_log({});
  logger->flush();
  EXPECT_NE(host_lines.str().find("write-behind: draining the queues"), std::string::npos)
    << host_lines.str();
  std::lock_guard<std::mutex> lock(m);
  for (auto& line : default_lines)
    EXPECT_EQ(line.find("draining the queues"), std::string::npos) << line;
}

// A backend that stops answering: every call is answered within the
// request timeout; after enough failures the circuit opens and calls fail
// at once.
TEST_F(Api, ABackendDownGetsAnErrorInTimeAndThenAnOpenCircuit) {
  auto cfg = suite_config();
  cfg.listen_enabled = false;
  cfg.request_timeout = 1500ms;
  cfg.postgres_timeout = 300ms;
  cfg.breaker.failures_to_open = 2;
  cfg.breaker.open_for = 60s;
  cfg.breaker.max_open_for = 60s;
  auto svc = start_service(cfg);
  blocking_client c{*sys_, svc->cache()};
  auto k = key();
  servers::get().postgres.pause();
  auto started = std::chrono::steady_clock::now();
  auto write = c.set(k, "while paused");
  auto took = std::chrono::steady_clock::now() - started;
  servers::get().postgres.resume();
  ASSERT_FALSE(write) << "answered while PostgreSQL was paused; its row: " << row_value(k);
  auto code = failure_of(write).code;
  EXPECT_TRUE(code == ec::outcome_unknown || code == ec::postgres_unavailable ||
              code == ec::timeout)
    << to_string(code) << " " << failure_of(write).text;
  EXPECT_LT(took, 5s);
  // Open the circuit with failures, then: refused at once, nothing sent.
  servers::get().postgres.pause();
  bool opened = eventually(
    [&] { return failure_of(c.get(key())).code == ec::postgres_unavailable &&
                 !svc->snapshot().postgres_up; },
    20s);
  // Still paused: a request that got through could only hang. (Once
  // PostgreSQL is back, the requests that were stuck in it succeed and
  // close the circuit, as they should.)
  auto refused = c.set(key(), "circuit open");
  servers::get().postgres.resume();
  EXPECT_TRUE(opened);
  EXPECT_EQ(failure_of(refused).code, ec::postgres_unavailable) << failure_of(refused).text;
}

// stop() with requests in flight: each gets an answer, none is lost.
TEST_F(Api, StoppingAnswersEveryRequestInFlight) {
  auto cfg = suite_config();
  cfg.listen_enabled = false;
  auto svc = start_service(cfg);  // request_timeout: 2 s
  async_client a{*sys_, svc->cache()};
  auto held_key = key();
  write_gate_->arm(held_key);  // its write waits after COMMIT until released
  int held = *write_gate_->held;
  std::vector<std::future<caf::expected<set_result>>> writes;
  writes.push_back(a.set(held_key, "held"));
  ASSERT_TRUE(eventually([&] { return *write_gate_->held == held + 1; }));
  for (int i = 0; i < 20; ++i)
    writes.push_back(a.set(key(), "beside"));
  std::thread stopper([&] { svc->stop(); });
  int answered = 0, failed = 0;
  for (auto& w : writes) {
    ASSERT_EQ(w.wait_for(10s), std::future_status::ready);
    auto r = w.get();
    ++answered;
    if (!r) {
      ++failed;
      auto code = failure_of(r).code;
      EXPECT_TRUE(code == ec::outcome_unknown || code == ec::stopped) << to_string(code);
    }
  }
  write_gate_->release(held_key);
  stopper.join();
  EXPECT_EQ(answered, 21);
  EXPECT_GE(failed, 1);  // the held one could not finish in time
  // After stop(): an error at once, never a hang.
  blocking_client late{*sys_, svc->cache(), 2s};
  EXPECT_FALSE(late.get(key()));
}

}  // namespace
}  // namespace wtcache::test
