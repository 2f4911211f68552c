// Promises 1 and 2 through the service: an acknowledged write is committed
// in PostgreSQL (checked there), and a write that answers an error changed
// nothing, or says its outcome is unknown. Group commit keeps both.
#include <csignal>
#include <future>
#include <set>

#include <signal.h>

#include <gtest/gtest.h>

#include "core/namespaces.hpp"
#include "tests/support/http.hpp"
#include "tests/support/service_fixture.hpp"

using namespace wtcache;
using namespace wtcache::test;
using namespace std::chrono_literals;

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
  auto got = c.cmd({"GET", a});
  EXPECT_TRUE(got.is_nil()) << got;  // an error here is a deadline under load, not a stale read
  EXPECT_EQ(c.cmd({"EXISTS", a, b}).number, 0);
  // Delete and reinsert: the new value's version is above the tombstone's.
  ASSERT_EQ(c.cmd({"SET", a, "again"}).str, "OK");
  EXPECT_EQ(c.cmd({"GET", a}).str, "again");
  EXPECT_EQ(field(redis_entry(a), "k"), "v");
  // A key named twice is deleted once. A row whose value expired counts
  // as absent, and goes too.
  EXPECT_EQ(c.cmd({"DEL", a, a}).number, 1);
  sql("INSERT INTO wtcache_kv (key, value, version, expires_at) "
      "VALUES ($1, 'old', 1, now() - interval '1 second')", missing);
  ASSERT_EQ(c.cmd({"SET", b, "3"}).str, "OK");
  EXPECT_EQ(c.cmd({"DEL", b, missing}).number, 1);
  EXPECT_EQ(sql("SELECT 1 FROM wtcache_kv WHERE key IN ($1, $2)", b, missing).size(), 0u);
  EXPECT_EQ(field(redis_entry(missing), "k"), "t");
}

TEST_F(Service, JsonbNamespaceRefusesInvalidJsonAndWritesNothing) {
  resp_client c(port_);
  auto err = c.cmd({"SET", "session:9001", "{\"cart\":[1,}"});
  ASSERT_TRUE(err.is_error());
  EXPECT_EQ(err.str, "ERR invalid JSON at byte 11: expected a value");
  EXPECT_EQ(sql("SELECT 1 FROM user_sessions WHERE user_id = 9001").size(), 0u);
  EXPECT_EQ(redis_entry("session:9001").elements.size(), 0u);
}

// jsonb takes any JSON number (it stores them as numeric): integers past 64
// bits and exponents past a double's range are valid values, not errors.
// (Why the validator is not simdjson: simdjson 3.0 refuses both.)
TEST_F(Service, JsonbAcceptsNumbersBeyondTheRangeOfADouble) {
  resp_client c(port_);
  auto doc = std::string("{\"big\":100000000000000000000000,\"huge\":1e400,\"tiny\":-1e-400}");
  ASSERT_EQ(c.cmd({"SET", "session:9002", doc}).str, "OK");
  auto stored = sql("SELECT session_data::text FROM user_sessions WHERE user_id = 9002");
  ASSERT_EQ(stored.size(), 1u);
  EXPECT_NE(stored[0][0].as<std::string>().find("100000000000000000000000"), std::string::npos)
    << stored[0][0].as<std::string>();
  // PostgreSQL writes 1e400 out in full; a GET returns what the row holds.
  EXPECT_EQ(c.cmd({"GET", "session:9002"}).str, stored[0][0].as<std::string>());
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
  redis.cmd({"DEL", cache_key("session:42")});
  EXPECT_EQ(c.cmd({"GET", "session:42"}).str, "{\"cart\": [1, 2]}");
  auto ttl = redis.cmd({"PTTL", cache_key("session:42")}).number;
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

// The backends of every service's workers (pids of wtcached-worker
// connections).
std::set<int> worker_backends() {
  std::set<int> pids;
  for (auto row : sql("SELECT pid FROM pg_stat_activity WHERE application_name = 'wtcached-worker'"))
    pids.insert(row[0].as<int>());
  return pids;
}

// A SET that goes with its COMMIT in one round trip, sent to a PostgreSQL
// backend that is stopped (SIGSTOP: its socket takes the bytes, nothing
// runs them), is given up on by its deadline ("outcome unknown"). The key's
// next write goes through the other worker and is acknowledged. When the
// stopped backend runs again, the stale statement must write nothing: had
// it committed then, its value would come after the acknowledged one.
TEST_F(Service, AWriteGivenUpOnNeverCommitsAfterTheNextWriteOfItsKey) {
  for (bool beside : {false, true}) {
    SCOPED_TRACE(beside ? "cache update beside COMMIT" : "cache update after COMMIT");
    auto before = worker_backends();
    auto cfg = suite_config();
    cfg.postgres_pool = 2;
    cfg.shards = 1;
    cfg.postgres_timeout = 500ms;
    cfg.redis_timeout = 300ms;
    cfg.request_timeout = 3000ms;
    shard_hooks hooks;
    hooks.cache_update_beside_commit = beside;
    auto s = start_with_hooks(*sys_, cfg, hooks);
    resp_client c(s->port());
    auto k = key(), other = key();
    // A lone SET has a statement of its own; the second round writes two
    // keys at once, a batch.
    auto write = [&](const std::string& v) {
      return beside ? c.cmd({"MSET", k, v, other, v}) : c.cmd({"SET", k, v});
    };
    std::vector<int> mine;
    // (The first writes of a new service may wait for its workers to
    // connect, past their deadline under load.)
    ASSERT_TRUE(eventually([&] {
      if (c.cmd({"SET", k, "before"}).str != "OK")
        return false;
      mine.clear();
      for (int pid : worker_backends())
        if (!before.count(pid))
          mine.push_back(pid);
      return mine.size() == 2;
    })) << "the two workers never connected";
    int stopped = mine.front();
    auto changed = [&] {
      return sql("SELECT state_change::text FROM pg_stat_activity WHERE pid = $1", stopped)[0][0]
        .as<std::string>();
    };
    auto last_change = changed();
    ASSERT_EQ(::kill(stopped, SIGSTOP), 0);
    struct resume {
      int pid;
      ~resume() { ::kill(pid, SIGCONT); }
    } resume_at_exit{stopped};
    // Round robin: within a few writes one goes to the stopped backend.
    std::string stalled;
    for (int i = 0; i < 4 && stalled.empty(); ++i) {
      auto v = "stalled" + std::to_string(i);
      auto r = write(v);
      if (r.str.rfind("ERR outcome unknown", 0) == 0)
        stalled = v;
      else
        ASSERT_EQ(r.str, "OK");
    }
    ASSERT_FALSE(stalled.empty()) << "no write went to the stopped backend";
    std::string acked;
    for (int i = 0; i < 4 && acked.empty(); ++i) {
      auto v = "next" + std::to_string(i);
      if (write(v).str == "OK")
        acked = v;
    }
    ASSERT_FALSE(acked.empty()) << "no later write was acknowledged";
    // (A read may go to the stuck worker and time out, but never go back.)
    auto read = c.cmd({"GET", k});
    if (!read.is_error()) {
      EXPECT_EQ(read.str, acked);
    }
    ASSERT_EQ(::kill(stopped, SIGCONT), 0);
    // The stopped backend runs what it was sent, up to its sync.
    EXPECT_TRUE(eventually([&] {
      auto r = sql("SELECT state, state_change::text FROM pg_stat_activity WHERE pid = $1", stopped);
      return r.empty() ||
             (r[0][0].as<std::string>() == "idle" && r[0][1].as<std::string>() != last_change);
    }));
    EXPECT_EQ(pqxx::binarystring(sql("SELECT value FROM wtcache_kv WHERE key = $1", k)[0][0]).str(),
              acked) << "the write given up on (\"" << stalled << "\") committed after it";
    if (beside) {
      EXPECT_EQ(
        pqxx::binarystring(sql("SELECT value FROM wtcache_kv WHERE key = $1", other)[0][0]).str(),
        acked);
    }
    EXPECT_TRUE(eventually([&] { return c.cmd({"GET", k}).str == acked; }));
    EXPECT_EQ(c.cmd({"GET", k}).str, acked);
    s->stop();
  }
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

// A write whose row is locked by another transaction waits for it, then
// commits. (With COMMIT in its round trip the statement only tries the lock,
// so that it can never commit late; finding it taken, the write goes the
// long way: a statement that waits, then COMMIT apart.) One SET, and MSET's
// batch of several, take different statements.
TEST_F(Service, AWriteWhoseRowIsLockedWaitsForTheLockThenCommits) {
  auto one = key(), other = key();
  for (auto& cmd : std::vector<std::vector<std::string>>{{"SET", one, "after-lock"},
                                                         {"MSET", one, "both", other, "both"}}) {
    auto holder = servers::get().connect();
    pqxx::work held(*holder);
    held.exec_params("SELECT pg_advisory_xact_lock($1)", row_lock_id("wtcache_kv", one));
    auto answer = std::async(std::launch::async, [&, cmd] { return resp_client(port_).cmd(cmd); });
    EXPECT_TRUE(eventually([] {
      return sql("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted")[0][0]
               .as<int>() == 1;
    })) << cmd[0] << " never waited for the lock";
    held.commit();
    EXPECT_EQ(answer.get().str, "OK") << cmd[0];
    EXPECT_EQ(pqxx::binarystring(sql("SELECT value FROM wtcache_kv WHERE key = $1", one)[0][0]).str(),
              cmd[2]);
    resp_client c(port_);
    EXPECT_EQ(c.cmd({"GET", one}).str, cmd[2]);
  }
  resp_client c(port_);
  EXPECT_EQ(c.cmd({"GET", other}).str, "both");
}

// After the answer the worker sends the transaction's releases and takes
// its next request without waiting for their replies, which it reads
// before its connection's next call. The marks go all the same with
// nothing else sent, and every later write's answers stay its own, on one
// worker and on several.
TEST_F(Service, AnAcknowledgedSetsMarkGoesWithoutAnotherRequestAndLaterAnswersStayInStep) {
  for (std::size_t pool : {1u, 3u}) {
    SCOPED_TRACE("postgres_pool = " + std::to_string(pool));
    auto cfg = suite_config();
    cfg.postgres_pool = pool;
    cfg.shards = 1;
    shard_hooks beside;  // no test gate on the cache update; the update beside COMMIT
    beside.cache_update_beside_commit = true;
    auto s = start_with_hooks(*sys_, cfg, beside);
    resp_client c(s->port());
    auto k = key();
    // (The first write of a new service may wait for its workers to connect.)
    ASSERT_TRUE(eventually([&] { return c.cmd({"SET", k, "one"}).str == "OK"; }));
    EXPECT_TRUE(eventually([&] {
      auto entry = redis_entry(k);
      return field(entry, "d") == "one" && field(entry, "p").empty() && field(entry, "pu").empty();
    })) << "the release never came: " << redis_entry(k);
    for (int i = 0; i < 12; ++i) {
      auto ki = key();
      auto value = "v" + std::to_string(i);
      ASSERT_EQ(c.cmd({"SET", ki, value}).str, "OK");
      ASSERT_EQ(c.cmd({"SET", k, value}).str, "OK");
      EXPECT_EQ(c.cmd({"GET", ki}).str, value);
      EXPECT_TRUE(eventually([&] {
        auto entry = redis_entry(ki);
        return field(entry, "d") == value && field(entry, "p").empty();
      })) << redis_entry(ki);
    }
    EXPECT_EQ(c.cmd({"GET", k}).str, "v11");
    EXPECT_TRUE(eventually([&] {
      auto entry = redis_entry(k);
      return field(entry, "d") == "v11" && field(entry, "p").empty();
    })) << redis_entry(k);
    s->stop();
  }
}

// A SET's cache update goes to Redis beside its COMMIT (a value that keeps
// the transaction's mark), not after it, with either ack. A COMMIT that
// PostgreSQL refuses (here a deferred constraint trigger) must leave that
// value unread: the write fails, and every read returns the value before
// it. An acknowledged write is then read back, at once and after its
// release.
TEST_F(Service, AValueSentBesideACommitThatFailsIsNeverRead) {
  sql("CREATE TABLE IF NOT EXISTS commit_notes (id text PRIMARY KEY, note text NOT NULL, "
      "version bigint NOT NULL DEFAULT 0)");
  sql("CREATE OR REPLACE FUNCTION refuse_boom() RETURNS trigger LANGUAGE plpgsql AS "
      "$$ BEGIN IF NEW.note = 'boom' THEN RAISE EXCEPTION 'refused at commit'; END IF; "
      "RETURN NULL; END $$");
  sql("DROP TRIGGER IF EXISTS refuse_boom ON commit_notes");
  sql("CREATE CONSTRAINT TRIGGER refuse_boom AFTER INSERT OR UPDATE ON commit_notes "
      "DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION refuse_boom()");
  for (bool after_commit : {false, true}) {
    SCOPED_TRACE(after_commit ? "ack = after-commit" : "ack = after-cache-update");
    auto cfg = suite_config();
    namespace_config ns;
    ns.prefix = "cn:";
    ns.table = "commit_notes";
    ns.key_column = "id";
    ns.value_column = "note";
    ns.type = value_type::text;
    ns.ack_after_commit = after_commit;
    cfg.namespaces.push_back(ns);
    // No test gate on the cache update, and the update beside COMMIT on.
    shard_hooks beside;
    beside.cache_update_beside_commit = true;
    auto notes = start_with_hooks(*sys_, cfg, beside);
    resp_client c(notes->port());
    auto k = key("cn:");
    // (The first write of a new service may wait for its workers to
    // connect, past its deadline under load.)
    ASSERT_TRUE(eventually([&] { return c.cmd({"SET", k, "fine"}).str == "OK"; }));
    EXPECT_EQ(c.cmd({"GET", k}).str, "fine");
    ASSERT_TRUE(eventually([&] { return field(redis_entry(k), "p").empty(); }))
      << "the release never came: " << redis_entry(k);
    EXPECT_EQ(field(redis_entry(k), "d"), "fine");
    auto refused = c.cmd({"SET", k, "boom"});
    EXPECT_NE(refused.str.find("refused at commit"), std::string::npos) << refused;
    auto entry = redis_entry(k);
    EXPECT_EQ(field(entry, "d"), "boom") << "the update did not go beside COMMIT: " << entry;
    EXPECT_FALSE(field(entry, "p").empty()) << "an uncommitted value is readable: " << entry;
    EXPECT_EQ(c.cmd({"GET", k}).str, "fine");
    EXPECT_EQ(
      sql("SELECT note FROM commit_notes WHERE id = $1", k.substr(3))[0][0].as<std::string>(),
      "fine");
    // The next write's own release leaves the failed one's mark to lapse, unread.
    ASSERT_EQ(c.cmd({"SET", k, "later"}).str, "OK");
    EXPECT_EQ(c.cmd({"GET", k}).str, "later");
    notes->stop();
  }
  sql("DROP TABLE commit_notes");
  sql("DROP FUNCTION refuse_boom()");
}
