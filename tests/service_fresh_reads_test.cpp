// Promise 3 through the service: no GET returns a value older than an
// acknowledged write, whatever the cache holds or loses: read-through and
// its fills, tombstones, dirty keys, the cache reader, races made
// deterministic with the shard's gates.
#include <future>
#include <set>

#include <gtest/gtest.h>

#include "actors/cache_reader.hpp"
#include "tests/support/http.hpp"
#include "tests/support/service_fixture.hpp"

using namespace wtcache;
using namespace wtcache::test;
using namespace std::chrono_literals;

namespace {

// The cache reader's line in Redis's CLIENT LIST, empty while it has none.
std::string cache_reader_line(resp_client& redis) {
  auto list = redis.cmd({"CLIENT", "LIST"}).str;
  auto at = list.find(std::string(" name=") + reader_client_name + " ");
  if (at == std::string::npos)
    return {};
  auto begin = list.rfind('\n', at);
  begin = begin == std::string::npos ? 0 : begin + 1;
  return list.substr(begin, list.find('\n', at) - begin);
}

// One "name=value" field of a CLIENT LIST line.
std::string field_of(const std::string& line, const std::string& name) {
  auto at = line.find(name + "=");
  return at == std::string::npos
           ? std::string()
           : line.substr(at + name.size() + 1, line.find(' ', at) - at - name.size() - 1);
}

}  // namespace

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
  EXPECT_EQ(redis.cmd({"EXISTS", cache_key(k)}).number, 0);
  EXPECT_EQ(c.cmd({"GET", k}).str, "persisted");
  EXPECT_EQ(field(redis_entry(k), "d"), "persisted");
  auto ttl = redis.cmd({"PTTL", cache_key(k)}).number;
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
  ASSERT_EQ(redis.cmd({"SET", cache_key(k2), "not a cache entry"}).str, "OK");
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
  auto ttl = redis.cmd({"PTTL", cache_key(k)}).number;
  EXPECT_GT(ttl, 90 * 1000);
  EXPECT_LE(ttl, 100 * 1000);
  ASSERT_EQ(c.cmd({"SET", k, "w", "PX", "1500"}).str, "OK");
  EXPECT_LE(redis.cmd({"PTTL", cache_key(k)}).number, 1500);
  // The row itself does not expire.
  EXPECT_EQ(sql("SELECT 1 FROM wtcache_kv WHERE key = $1", k).size(), 1u);
}

// Cache hits are read over the cache reader's own connection to Redis. When
// Redis drops it, hits are still answered (through the Redis workers) and it
// connects again.
TEST_F(Service, CacheHitsGoOverTheCacheReadersOwnConnectionWhichComesBack) {
  resp_client c(port_);
  resp_client redis(servers::get().redis_port());
  auto reader_line = [&] { return cache_reader_line(redis); };
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
  // HMGET over it). Not always the first GET: one that finds the node's
  // dirty-key lease run out (its watch starved of CPU for 400 ms, under
  // load) reads PostgreSQL, as it must, and counts as a miss.
  std::string again;
  EXPECT_TRUE(eventually([&] {
    EXPECT_EQ(c.cmd({"GET", k}).str, "v1");
    again = reader_line();
    return field_of(again, "cmd") == "hmget";
  })) << again;
  EXPECT_NE(field_of(again, "id"), field_of(line, "id"));
  // The GETs were hits, or reads under a lapsed lease: never a miss of the
  // reader's making, which would read through on every one of them.
  EXPECT_LT(std::stoll(info_field(c, "keyspace_misses")) - std::stoll(misses), 3) << misses;
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

// The first miss reads; the others arrive while it is out, so they share
// one read that begins after them (the first read may predate a write
// acknowledged on another node): two database reads for eight misses.
TEST_F(Service, ConcurrentMissesOfOneKeyShareTwoDatabaseReads) {
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
  EXPECT_EQ(std::stoll(info_field(c, "db_reads")), reads_before + 2);
}

// A read that began before another node's write must not answer a GET that
// arrived after that write was acknowledged. Here the other node's cache
// update is as if it had failed (its tombstone stays), so the GET reaches
// this node's shard while the older read is still out.
TEST_F(Service, AReadOutBeforeAnotherNodesWriteDoesNotAnswerALaterGet) {
  auto other = start_service(suite_config());
  resp_client c(port_), b(other->port());
  auto k = key();
  set_then_evict(c, k, "old");
  fill_gate_->arm(k);
  auto misses_before = std::stoll(info_field(c, "keyspace_misses"));
  int held = *fill_gate_->held;
  auto early = std::async(std::launch::async, [&] {
    resp_client reader(port_);
    return reader.cmd({"GET", k});
  });
  ASSERT_TRUE(eventually([&] { return *fill_gate_->held == held + 1; }));  // read "old", held
  ASSERT_EQ(b.cmd({"SET", k, "new"}).str, "OK");
  {
    resp_client redis(servers::get().redis_port());
    ASSERT_EQ(field(redis_entry(k), "d"), "new");
    ASSERT_EQ(redis.cmd({"HSET", cache_key(k), "k", "t", "d", ""}).number, 0);
  }
  auto late = std::async(std::launch::async, [&] {
    resp_client reader(port_);
    return reader.cmd({"GET", k});
  });
  ASSERT_TRUE(eventually([&] {
    return std::stoll(info_field(c, "keyspace_misses")) == misses_before + 2;
  }));
  fill_gate_->release(k);
  EXPECT_EQ(early.get().str, "old");  // concurrent with the write: either is fine
  EXPECT_EQ(late.get().str, "new");
  EXPECT_EQ(c.cmd({"GET", k}).str, "new");
  other->stop();
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

// Before a write commits, its key's entry is marked pending: when the
// transaction becomes visible, no reader anywhere can be served the older
// cached value, even if this process died before its cache update. The
// cache update takes the mark away again.
TEST_F(Service, APendingMarkIsInRedisBeforeTheCommitAndGoesWithTheCacheUpdate) {
  resp_client c(port_);
  auto k = key();
  ASSERT_EQ(c.cmd({"SET", k, "old"}).str, "OK");
  ASSERT_EQ(field(redis_entry(k), "d"), "old");
  auto hold = hold_shard_with(k, port_);  // committed, cache update not yet sent
  auto row = sql("SELECT version FROM wtcache_kv WHERE key = $1", k);
  ASSERT_EQ(row.size(), 1u);
  auto entry = redis_entry(k);
  EXPECT_EQ(field(entry, "p"), "1") << entry;
  EXPECT_EQ(field(entry, "d"), "old") << entry;  // there, but no reader trusts it
  EXPECT_TRUE(sql("SELECT 1 FROM wtcache_dirty_keys WHERE key = $1", k).empty());
  resp_client reader(port_);
  EXPECT_EQ(reader.cmd({"GET", k}).str, "held");  // read through, and not filled
  EXPECT_EQ(field(redis_entry(k), "d"), "old");
  write_gate_->release(k);
  EXPECT_EQ(hold.get().str, "OK");
  entry = redis_entry(k);
  EXPECT_EQ(field(entry, "k"), "v");
  EXPECT_EQ(field(entry, "d"), "held");
  EXPECT_EQ(field(entry, "v"), row[0][0].as<std::string>());
  EXPECT_EQ(field(entry, "p"), "") << entry;  // the mark is gone
  EXPECT_EQ(field(entry, "pu"), "") << entry;
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

// Only a key's newest write decides its cache TTL, and a DEL's tombstone
// always lives tombstone_ttl: a short TTL must not let an old value back in.
// (A namespace with expiry = "cache", where a TTL bounds only the cache copy.)
TEST_F(Service, ADeleteBatchedAfterAShortLivedSetLeavesAFullTombstone) {
  resp_client c(port_);
  resp_client redis(servers::get().redis_port());
  auto first = key();
  auto k = key_beside(first, "views:");
  ASSERT_EQ(c.cmd({"SET", k, "1"}).str, "OK");
  auto hold = hold_shard_with(first, port_);
  auto queued_before = std::stoll(info_field(c, "queued_writes"));
  resp_client pipe(port_);
  pipe.append({"SET", k, "2", "PX", "1"});
  pipe.append({"DEL", k});
  pipe.flush();
  ASSERT_TRUE(eventually([&] { return std::stoll(info_field(c, "queued_writes")) == queued_before + 2; }));
  write_gate_->release(first);
  EXPECT_EQ(hold.get().str, "OK");
  EXPECT_EQ(pipe.read().str, "OK");
  EXPECT_EQ(pipe.read().number, 1);
  EXPECT_EQ(field(redis_entry(k), "k"), "t");
  EXPECT_GT(redis.cmd({"PTTL", cache_key(k)}).number, 50 * 1000);  // tombstone_ttl = 60 s
  // And a very short TTL is raised to outlive a fill in flight (2 x redis timeout).
  ASSERT_EQ(c.cmd({"SET", k, "2", "PX", "1"}).str, "OK");
  EXPECT_GT(redis.cmd({"PTTL", cache_key(k)}).number, 900);
}

// A miss the connection saw in the cache is not read from Redis again: the
// shard goes to PostgreSQL at once (core/read_route.hpp). Counted with
// MONITOR on the real Redis: one HMGET of the key's entry, from the cache
// reader's connection, then the fill.
TEST_F(Service, AMissTheConnectionSawIsReadFromRedisOnce) {
  resp_client c(port_);
  resp_client redis(servers::get().redis_port());
  auto reader_addr = [&] { return field_of(cache_reader_line(redis), "addr"); };
  ASSERT_TRUE(eventually([&] { return !reader_addr().empty(); }));
  // The connection reads the cache itself only while nothing on the node is
  // doubtful (a fresh lease, no dirty key): try until a GET went that way.
  int hmgets = -1;
  ASSERT_TRUE(eventually([&] {
    auto k = key();
    set_then_evict(c, k, "v");
    resp_client monitor(servers::get().redis_port());
    if (monitor.cmd({"MONITOR"}).str != "OK")
      return false;
    if (c.cmd({"GET", k}).str != "v")
      return false;
    // Everything Redis ran for the key, up to the fill that follows the
    // database read: its HMGETs, and whether the first came from the reader.
    auto reader = reader_addr();
    bool first_from_reader = false;
    hmgets = 0;
    for (;;) {
      auto line = monitor.read().str;
      if (line.find("\"" + cache_key(k) + "\"") == std::string::npos)
        continue;
      if (line.find("\"EVALSHA\"") != std::string::npos)
        break;
      if (line.find("\"HMGET\"") != std::string::npos && hmgets++ == 0)
        first_from_reader = line.find("[0 " + reader + "]") != std::string::npos;
    }
    return first_from_reader;
  }, 20s)) << "no GET went through the cache reader";
  EXPECT_EQ(hmgets, 1);
}

// ack = "after-commit": the write is acknowledged while its cache update is
// still held back, and a read right after it reads through (the mark is
// in): never the older value. Then the update lands and takes the mark.
TEST_F(Service, AfterCommitAcknowledgesBeforeTheCacheUpdateAndNoReadIsStale) {
  auto svc = start_service_with([](config& cfg) { cfg.namespaces.front().ack_after_commit = true; });
  resp_client c(svc->port());
  auto k = key();
  ASSERT_EQ(c.cmd({"SET", k, "old"}).str, "OK");
  ASSERT_TRUE(eventually([&] { return field(redis_entry(k), "d") == "old"; }));
  write_gate_->arm(k);
  int held = *write_gate_->held;
  auto port = svc->port();
  auto write = std::async(std::launch::async, [&] {
    resp_client w(port);
    return w.cmd({"SET", k, "new"});
  });
  ASSERT_TRUE(eventually([&] { return *write_gate_->held == held + 1; }));
  bool early = write.wait_for(10s) == std::future_status::ready;
  if (!early)
    write_gate_->release(k);
  ASSERT_TRUE(early) << "acknowledged only after the cache update";
  EXPECT_EQ(write.get().str, "OK");
  auto entry = redis_entry(k);
  EXPECT_EQ(field(entry, "d"), "old") << entry;
  EXPECT_EQ(field(entry, "p"), "1") << entry;
  EXPECT_EQ(c.cmd({"GET", k}).str, "new");
  EXPECT_EQ(field(redis_entry(k), "d"), "old");  // read through, not filled
  write_gate_->release(k);
  ASSERT_TRUE(eventually([&] { return field(redis_entry(k), "d") == "new"; }));
  EXPECT_EQ(field(redis_entry(k), "p"), "");
  EXPECT_EQ(c.cmd({"GET", k}).str, "new");
  svc->stop();
}

// Writes that come while a transaction is out need not wait for its cache
// update: once it has committed, the shard's next transaction goes
// (core/group_commit.hpp, committed()). The held write is still answered
// only after its cache update, and its entry stays marked meanwhile.
TEST_F(Service, TheNextTransactionGoesOnceTheOneBeforeHasCommitted) {
  auto svc = start_service(suite_config(), /*release_at_commit=*/true);
  auto port = svc->port();
  resp_client c(port);
  auto first = key();
  auto b = key_beside(first), later = key_beside(first);
  ASSERT_EQ(c.cmd({"SET", b, "old"}).str, "OK");
  write_gate_->arm(b);
  int held = *write_gate_->held;
  auto hold_b = overlapping(c, port, first, {"SET", b, "new"});
  // b's transaction has committed and its cache update is held: a write
  // of the same shard commits and is answered meanwhile.
  ASSERT_TRUE(eventually([&] { return *write_gate_->held == held + 2; }));
  auto next = async_cmd(port, {"SET", later, "x"});
  bool overlapped = next.wait_for(10s) == std::future_status::ready;
  EXPECT_EQ(hold_b.wait_for(0s), std::future_status::timeout) << "answered before its cache update";
  // (No read of b here: its worker is held at the gate, and a read through
  // could be sent to it.) Committed, its cache update not made: still marked.
  auto entry = redis_entry(b);
  EXPECT_EQ(field(entry, "d"), "old") << entry;
  EXPECT_EQ(field(entry, "p"), "1") << entry;
  write_gate_->release(b);
  ASSERT_TRUE(overlapped) << "the next transaction waited for the cache update before it";
  EXPECT_EQ(next.get().str, "OK");
  EXPECT_EQ(hold_b.get().str, "OK");
  EXPECT_EQ(field(redis_entry(b), "d"), "new");
  EXPECT_EQ(c.cmd({"GET", b}).str, "new");
  EXPECT_EQ(c.cmd({"GET", later}).str, "x");
  svc->stop();
}

// Two overlapping transactions of a shard write one key, and the older
// one's cache update lands last: it is fenced out, and takes only its own
// mark away. The cache ends with the newer value, and until the older
// update lands the entry stays marked (every reader goes to PostgreSQL).
TEST_F(Service, AnOlderWritesCacheUpdateLandingLastLeavesTheNewerValue) {
  auto svc = start_service(suite_config(), /*release_at_commit=*/true);
  auto port = svc->port();
  resp_client c(port);
  auto first = key();
  // a sorts before k: the cache update of MSET a k is gated by a, not k.
  auto k = key_beside(first, "k"), a = key_beside(first, "a");
  write_gate_->arm(k);
  int held = *write_gate_->held;
  auto older = overlapping(c, port, first, {"SET", k, "older"});
  // The older write has committed; its cache update is held.
  ASSERT_TRUE(eventually([&] { return *write_gate_->held == held + 2; }));
  auto newer = async_cmd(port, {"MSET", a, "x", k, "newer"});
  ASSERT_EQ(newer.wait_for(10s), std::future_status::ready);
  EXPECT_EQ(newer.get().str, "OK");
  auto entry = redis_entry(k);
  EXPECT_EQ(field(entry, "d"), "newer") << entry;
  EXPECT_EQ(field(entry, "p"), "1") << entry;  // the older write's mark
  auto row = sql("SELECT convert_from(value, 'UTF8') FROM wtcache_kv WHERE key = $1", k);
  ASSERT_EQ(row.size(), 1u);
  EXPECT_EQ(row[0][0].as<std::string>(), "newer");
  write_gate_->release(k);
  EXPECT_EQ(older.get().str, "OK");
  entry = redis_entry(k);
  EXPECT_EQ(field(entry, "d"), "newer") << entry;
  EXPECT_EQ(field(entry, "p"), "") << entry;
  EXPECT_EQ(c.cmd({"GET", k}).str, "newer");
  svc->stop();
}
