// Write-behind against a real Redis and PostgreSQL: acknowledged writes reach
// the database (batched and coalesced), also across a PostgreSQL outage and a
// graceful stop; a poison entry goes to the dead letters alone; the queue is
// bounded; eviction never makes a read go back to an older row; a Redis that
// may evict the queue is refused; what a stop says of the queues is what
// Redis holds. The service runs in this process.
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <future>
#include <map>
#include <mutex>
#include <optional>
#include <regex>
#include <thread>

#include <gtest/gtest.h>

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>

#include "app/config.hpp"
#include "actors/write_behind_writer.hpp"
#include "app/service.hpp"
#include "tests/support/log_capture.hpp"
#include "tests/support/resp_client.hpp"
#include "tests/support/servers.hpp"
#include "tests/support/text.hpp"
#include "backends/scripts.hpp"
#include "core/key_layout.hpp"

using namespace wtcache;
using namespace wtcache::test;
using namespace std::chrono_literals;

namespace {

// A figure of the wb_items namespace's INFO line ("flushed", "queue_depth"...).
long long wb_figure(uint16_t port, const std::string& figure) {
  resp_client c(port);
  auto line = info_field(c.cmd({"INFO", "write-behind"}).str, "wb_wb_items");
  auto value = list_field(line, figure);
  return value.empty() ? -1 : std::stoll(value);
}

std::string row_of(const std::string& id) {
  auto r = sql("SELECT doc FROM wb_items WHERE id = $1", id);
  return r.empty() ? std::string("<none>") : r[0][0].as<std::string>();
}

// Creates table `table` (id `key_type`, doc `value_type`, version) and
// returns the TOML of a namespace `prefix` over it: write-behind, flushing
// every `flush_ms`, unless `write_behind` is false.
std::string items_namespace(const std::string& prefix, const std::string& table,
                            const std::string& key_type, const std::string& value_type,
                            bool write_behind = true, int flush_ms = 20) {
  sql("CREATE TABLE IF NOT EXISTS " + table + " (id " + key_type + " PRIMARY KEY, doc " +
      value_type + " NOT NULL, version bigint NOT NULL DEFAULT 0)");
  std::string toml = "[[namespace]]\nprefix = \"" + prefix + "\"\ntable = \"" + table +
                     "\"\nkey_column = \"id\"\nvalue_column = \"doc\"\nvalue_type = \"" +
                     value_type + "\"\n";
  if (write_behind)
    toml += "mode = \"write-behind\"\nflush_interval_ms = " + std::to_string(flush_ms) + "\n";
  return toml;
}

// What one writer drains: its name (as reports and locks know it) and the
// streams of its groups.
struct writer_share {
  std::string name;
  std::vector<std::string> streams;
};

// Every writer's share of a configuration.
std::vector<writer_share> streams_of(const config& cfg) {
  std::vector<writer_share> out;
  auto layout = cfg.redis_keys();
  for (auto& ns : cfg.namespaces)
    if (ns.mode == write_mode::write_behind)
      for (std::size_t i = 0; i < ns.writers; ++i) {
        writer_share share{writer_streams_name(layout, ns.table, i, ns.writers), {}};
        for (auto g : groups_of_writer(i, ns.writers, layout.groups))
          share.streams.push_back(layout.stream(ns.table, g));
        out.push_back(std::move(share));
      }
  return out;
}

// XLEN and XPENDING of each share, summed over its streams, asked of Redis
// now; nothing when Redis cannot be reached.
using stream_figures = std::map<std::string, std::pair<long long, long long>>;
std::optional<stream_figures> read_streams(const std::vector<writer_share>& shares) {
  try {
    resp_client r(servers::get().redis_port());
    stream_figures out;
    for (auto& share : shares) {
      auto& f = out[share.name];
      for (auto& s : share.streams) {
        auto len = r.cmd({"XLEN", s});
        auto pending = r.cmd({"XPENDING", s, "wtcache"});
        if (len.kind != reply::integer)
          return std::nullopt;
        long long p = pending.kind == reply::array && !pending.elements.empty()
                        ? pending.elements[0].number : 0;  // NOGROUP: nothing delivered
        f.first += len.number;
        f.second += p;
      }
    }
    return out;
  } catch (const std::exception&) {
    return std::nullopt;
  }
}

// The line a stop logs about the write-behind queues, with XLEN and
// XPENDING of every stream read by the test while that line was written.
class stop_line {
public:
  explicit stop_line(std::vector<writer_share> streams) : streams_(std::move(streams)) {
    watch_log([this](const std::string& line) {
      std::lock_guard<std::mutex> guard(mutex_);
      seen_.push_back(line);
      logged_.notify_all();
      if (line.rfind("write-behind queues drained", 0) != 0 &&
          line.find("drains at the next start") == std::string::npos)
        return;
      lines_.push_back(line);
      figures_ = read_streams(streams_);
    });
  }
  ~stop_line() { watch_log({}); }

  // Waits until a line starting with `prefix` has been logged.
  bool wait_for(const std::string& prefix, std::chrono::milliseconds limit = 10s) {
    std::unique_lock<std::mutex> lock(mutex_);
    return logged_.wait_for(lock, limit, [&] {
      return std::any_of(seen_.begin(), seen_.end(),
                         [&](const std::string& l) { return l.rfind(prefix, 0) == 0; });
    });
  }

  std::string line() {
    std::lock_guard<std::mutex> guard(mutex_);
    return lines_.size() == 1 ? lines_[0] : "<" + std::to_string(lines_.size()) + " lines>";
  }
  bool drained() { return line().rfind("write-behind queues drained into PostgreSQL", 0) == 0; }

  // The line says what the streams held as it was written: "drained" only
  // when each was empty, every stream holding entries named with its XLEN
  // and XPENDING, and no figures at all when Redis could not be asked.
  ::testing::AssertionResult matches_redis() {
    std::lock_guard<std::mutex> guard(mutex_);
    if (lines_.size() != 1)
      return ::testing::AssertionFailure() << lines_.size() << " queue lines were logged";
    auto& l = lines_[0];
    if (!figures_) {
      if (l.find("cannot tell what is left") == std::string::npos)
        return ::testing::AssertionFailure() << "Redis could not be read, yet the line is: " << l;
      return ::testing::AssertionSuccess();
    }
    bool empty = true;
    long long total = 0;
    for (auto& [stream, f] : *figures_) {
      total += f.first;
      auto held = stream + " holds " + std::to_string(f.first) + " (" +
                  std::to_string(f.second) + " pending";
      if (f.first == 0 && f.second == 0) {
        if (l.find(stream + " holds") != std::string::npos)
          return ::testing::AssertionFailure() << stream << " was empty; the line: " << l;
        continue;
      }
      empty = false;
      if (l.find(held) == std::string::npos)
        return ::testing::AssertionFailure() << "Redis said \"" << held << ")\"; the line: " << l;
    }
    bool said_drained = l.rfind("write-behind queues drained into PostgreSQL", 0) == 0;
    if (said_drained != empty)
      return ::testing::AssertionFailure()
             << (empty ? "every stream was empty" : "streams held entries") << "; the line: " << l;
    auto queued = std::to_string(total) + (total == 1 ? " entry" : " entries") + " still queued";
    if (!empty && l.find(queued) == std::string::npos)
      return ::testing::AssertionFailure() << "Redis held " << total << " entries; the line: " << l;
    return ::testing::AssertionSuccess() << l;
  }

private:
  std::vector<writer_share> streams_;
  std::mutex mutex_;
  std::condition_variable logged_;
  std::vector<std::string> seen_;   // every line
  std::vector<std::string> lines_;  // the queue lines
  std::optional<stream_figures> figures_;
};

// A PostgreSQL session of the test's own that holds the locks of streams,
// as the writer of another node (or one that has not let go yet) would.
class stream_locks {
public:
  explicit stream_locks(const std::vector<writer_share>& shares)
      : conn_(servers::get().connect()) {
    pqxx::nontransaction tx(*conn_);
    for (auto& s : shares)
      if (!tx.exec_params("SELECT pg_try_advisory_lock($1)", stream_lock_id(s.name))[0][0].as<bool>())
        throw std::runtime_error("the lock of " + s.name + " is held by some other session");
  }
  // Unlocks at once (a closed session's locks go only with its backend).
  void release() {
    if (!conn_)
      return;
    pqxx::nontransaction tx(*conn_);
    tx.exec("SELECT pg_advisory_unlock_all()");
    conn_.reset();
  }
  ~stream_locks() {
    try {
      release();
    } catch (const std::exception&) {
      conn_.reset();  // closing the session frees them too, a moment later
    }
  }

private:
  std::unique_ptr<pqxx::connection> conn_;
};

}  // namespace

class WriteBehind : public ::testing::Test {
protected:
  static config suite_config() {
    return test_config(R"(
[[namespace]]
prefix = "wb:"
table = "wb_items"
key_column = "id"
value_column = "doc"
value_type = "text"
mode = "write-behind"
flush_interval_ms = 20
)");
  }

  static namespace_config& wb(config& cfg) { return cfg.namespaces.back(); }

  template <class Tweak>
  static std::unique_ptr<service> start_service_with(Tweak tweak) {
    auto cfg = suite_config();
    tweak(cfg);
    return service::start(*sys_, cfg);
  }

  static void SetUpTestSuite() {
    watch_log({});  // before any actor logs: tests/support/log_capture.hpp
    sql("CREATE TABLE IF NOT EXISTS wb_items (id text PRIMARY KEY, "
        "doc text NOT NULL CHECK (doc <> 'poison'), version bigint NOT NULL DEFAULT 0)");
    sys_cfg_ = std::make_unique<caf::actor_system_config>();
    configure_actor_system(*sys_cfg_);
    use_sharing_scheduler(*sys_cfg_);
    sys_ = std::make_unique<caf::actor_system>(*sys_cfg_);
  }

  static void TearDownTestSuite() {
    sys_.reset();
    sys_cfg_.reset();
  }

  std::string key() {
    auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    return std::string(info->name()) + std::to_string(++counter_);
  }

  static reply redis(const std::vector<std::string>& args) {
    resp_client r(servers::get().redis_port());
    return r.cmd(args);
  }

  static inline std::unique_ptr<caf::actor_system_config> sys_cfg_;
  static inline std::unique_ptr<caf::actor_system> sys_;
  static inline int counter_ = 0;
};

// The acknowledgement comes from Redis alone: the value is cached (pinned,
// no TTL, until it is persisted) and queued; the writer then persists it and
// gives the cache entry its TTL back.
TEST_F(WriteBehind, SetIsCachedAndQueuedThenPersisted) {
  auto svc = start_service_with([](config& cfg) { wb(cfg).flush_interval = 300ms; });
  resp_client c(svc->port());
  auto id = key();
  ASSERT_EQ(c.cmd({"SET", "wb:" + id, "hello"}).str, "OK");
  EXPECT_EQ(c.cmd({"GET", "wb:" + id}).str, "hello");
  // Within the flush interval it is not in PostgreSQL yet, and it is pinned.
  EXPECT_EQ(redis({"PTTL", cache_key("wb:" + id)}).number, -1);
  ASSERT_TRUE(eventually([&] { return row_of(id) == "hello"; }));
  EXPECT_TRUE(eventually([&] { return redis({"PTTL", cache_key("wb:" + id)}).number > 0; }));
  auto version = sql("SELECT version FROM wb_items WHERE id = $1", id)[0][0].as<std::string>();
  reply entry = redis({"HGET", cache_key("wb:" + id), "v"});
  EXPECT_EQ(entry.str, version);  // the row carries the version the cache entry has
  EXPECT_TRUE(eventually([&] { return wb_figure(svc->port(), "queue_depth") == 0; }));
}

// Many writes to few keys: few rows written, the newest value of each key.
TEST_F(WriteBehind, ManyWritesToFewKeysAreCoalescedIntoFewRowWrites) {
  auto svc = start_service_with([](config& cfg) { wb(cfg).flush_interval = 200ms; });
  auto base = key();
  constexpr int keys = 20, rounds = 50;
  std::vector<std::future<void>> clients;
  for (int t = 0; t < 4; ++t)
    clients.push_back(std::async(std::launch::async, [&, t] {
      resp_client c(svc->port());
      for (int r = 0; r < rounds; ++r)
        for (int k = t; k < keys; k += 4)
          c.append({"SET", "wb:" + base + "-" + std::to_string(k), std::to_string(r)});
      for (int r = 0; r < rounds; ++r)
        for (int k = t; k < keys; k += 4)
          ASSERT_EQ(c.read().str, "OK");
    }));
  for (auto& f : clients)
    f.get();
  ASSERT_TRUE(eventually([&] {
    return wb_figure(svc->port(), "flushed") == keys * rounds &&
           wb_figure(svc->port(), "queue_depth") == 0;
  }));
  for (int k = 0; k < keys; ++k)
    EXPECT_EQ(row_of(base + "-" + std::to_string(k)), std::to_string(rounds - 1));
  auto rows = wb_figure(svc->port(), "rows_written");
  auto batches = wb_figure(svc->port(), "batches");
  EXPECT_GE(rows, keys);
  EXPECT_LE(rows, keys * rounds / 5) << "1000 writes to 20 keys came to " << rows << " rows";
  EXPECT_LE(batches, rows);
  std::printf("  coalescing: %d writes -> %lld row writes in %lld batches\n", keys * rounds, rows,
              batches);
}

// INCR and DEL need the current value; for a key the cache does not hold,
// the shard reads the row first. A write-behind DEL hides the key at once.
TEST_F(WriteBehind, IncrAndDelOfUncachedKeysReadTheRowFirst) {
  auto svc = start_service_with([](config&) {});
  resp_client c(svc->port());
  auto counter = key(), gone = key(), never = key();
  sql("INSERT INTO wb_items (id, doc, version) VALUES ($1, '41', 1), ($2, 'x', 1)", counter, gone);
  EXPECT_EQ(c.cmd({"INCR", "wb:" + counter}).number, 42);
  EXPECT_EQ(c.cmd({"INCRBY", "wb:" + counter, "8"}).number, 50);
  EXPECT_EQ(c.cmd({"DEL", "wb:" + gone, "wb:" + never}).number, 1);
  EXPECT_TRUE(c.cmd({"GET", "wb:" + gone}).is_nil());
  EXPECT_EQ(c.cmd({"EXISTS", "wb:" + gone}).number, 0);
  ASSERT_TRUE(eventually([&] { return row_of(counter) == "50" && row_of(gone) == "<none>"; }));
  EXPECT_EQ(c.cmd({"SET", "wb:" + gone, "abc"}).str, "OK");
  EXPECT_EQ(c.cmd({"INCR", "wb:" + gone}).str, "ERR value is not an integer or out of range");
  EXPECT_EQ(c.cmd({"GET", "wb:" + gone}).str, "abc");
  ASSERT_TRUE(eventually([&] { return row_of(gone) == "abc"; }));
  // Mixed modes in one command are refused.
  EXPECT_EQ(c.cmd({"MSET", "wb:" + gone, "1", "k" + gone, "2"}).str,
            "ERR MSET mixes write-through and write-behind keys; send them separately");
}

// SET's conditions, GETSET, APPEND, SETRANGE, INCRBYFLOAT and GETDEL of
// write-behind keys are decided by the shard from the newest value (Redis's
// entry, else the row: here the cache has none) and land in PostgreSQL.
TEST_F(WriteBehind, ConditionsAndReadModifyWritesDecideFromTheNewestValueThenLand) {
  auto svc = start_service_with([](config&) {});
  resp_client c(svc->port());
  auto held = key(), fresh = key(), text = key(), number = key(), gone = key();
  sql("INSERT INTO wb_items (id, doc, version) VALUES ($1, 'row', 1), ($2, 'ab', 1), "
      "($3, '1.5', 1), ($4, 'bye', 1)",
      held, text, number, gone);
  EXPECT_TRUE(c.cmd({"SET", "wb:" + held, "x", "NX"}).is_nil());  // the row decides
  EXPECT_EQ(c.cmd({"SET", "wb:" + held, "y", "XX", "GET"}).str, "row");
  EXPECT_EQ(c.cmd({"SET", "wb:" + fresh, "1", "NX"}).str, "OK");
  EXPECT_TRUE(c.cmd({"SET", "wb:" + fresh, "2", "NX"}).is_nil());  // the pending entry decides
  EXPECT_EQ(c.cmd({"GETSET", "wb:" + fresh, "3"}).str, "1");
  EXPECT_EQ(c.cmd({"APPEND", "wb:" + text, "cd"}).number, 4);
  EXPECT_EQ(c.cmd({"SETRANGE", "wb:" + text, "1", "XY"}).number, 4);
  EXPECT_EQ(c.cmd({"INCRBYFLOAT", "wb:" + number, "0.25"}).str, "1.75");
  EXPECT_EQ(c.cmd({"GETDEL", "wb:" + gone}).str, "bye");
  EXPECT_TRUE(c.cmd({"GET", "wb:" + gone}).is_nil());
  EXPECT_EQ(c.cmd({"MSETNX", "wb:" + fresh, "no", "wb:" + key(), "no"}).number, 0);
  EXPECT_EQ(c.cmd({"APPEND", "wb:" + text, std::string("\0", 1)}).str,
            "ERR the result contains a NUL byte, which a text column cannot store");
  EXPECT_TRUE(eventually([&] {
    return row_of(held) == "y" && row_of(fresh) == "3" && row_of(text) == "aXYd" &&
           row_of(number) == "1.75" && row_of(gone) == "<none>";
  }));
}

// 40 clients on two nodes race SET NX on one write-behind key: the entry
// each decided from must still be there when its outcome is queued, so
// exactly one wins, and its value is what lands.
TEST_F(WriteBehind, SetNxRacedAcrossTwoNodesHasExactlyOneWinner) {
  auto a = start_service_with([](config&) {});
  auto b = start_service_with([](config&) {});
  auto id = key();
  std::atomic<int> ok{0}, nil{0}, other{0};
  std::vector<std::thread> clients;
  std::promise<void> go;
  auto start = go.get_future().share();
  for (int i = 0; i < 40; ++i)
    clients.emplace_back([&, i] {
      resp_client c(i % 2 ? a->port() : b->port());
      start.wait();
      auto r = c.cmd({"SET", "wb:" + id, "owner" + std::to_string(i), "NX"});
      if (r.kind == reply::status && r.str == "OK")
        ++ok;
      else if (r.is_nil())
        ++nil;
      else
        ++other;
    });
  go.set_value();
  for (auto& t : clients)
    t.join();
  EXPECT_EQ(ok, 1);
  EXPECT_EQ(nil, 39);
  EXPECT_EQ(other, 0);
  resp_client c(a->port());
  auto winner = c.cmd({"GET", "wb:" + id}).str;
  EXPECT_EQ(winner.rfind("owner", 0), 0u) << winner;
  EXPECT_TRUE(eventually([&] { return row_of(id) == winner; }));
}

// EXEC of write-behind keys is one call of the enqueue script: its commands
// decided in turn, across shards, all queued or none; WATCH sees a change
// made through another node. Mixed with write-through keys it is refused.
TEST_F(WriteBehind, ExecOfWriteBehindKeysQueuesEveryCommandAndWatchSeesAnotherNode) {
  auto a = start_service_with([](config&) {});
  auto b = start_service_with([](config&) {});
  resp_client c(a->port()), other(b->port());
  auto k1 = key(), k2 = key(), k3 = key(), k4 = key();
  sql("INSERT INTO wb_items (id, doc, version) VALUES ($1, 'bye', 1)", k4);
  ASSERT_EQ(c.cmd({"MULTI"}).str, "OK");
  for (auto cmd : std::vector<std::vector<std::string>>{{"SET", "wb:" + k1, "1"},
                                                        {"INCR", "wb:" + k2},
                                                        {"APPEND", "wb:" + k3, "x"},
                                                        {"GETDEL", "wb:" + k4},
                                                        {"GET", "wb:" + k2}})
    ASSERT_EQ(c.cmd(cmd).str, "QUEUED");
  auto r = c.cmd({"EXEC"});
  ASSERT_EQ(r.elements.size(), 5u) << r;
  EXPECT_EQ(r.elements[0].str, "OK");
  EXPECT_EQ(r.elements[1].number, 1);
  EXPECT_EQ(r.elements[2].number, 1);
  EXPECT_EQ(r.elements[3].str, "bye");
  EXPECT_EQ(r.elements[4].str, "1");
  EXPECT_TRUE(eventually([&] {
    return row_of(k1) == "1" && row_of(k2) == "1" && row_of(k3) == "x" && row_of(k4) == "<none>";
  }));
  ASSERT_EQ(c.cmd({"WATCH", "wb:" + k1}).str, "OK");
  ASSERT_EQ(other.cmd({"SET", "wb:" + k1, "theirs"}).str, "OK");
  ASSERT_EQ(c.cmd({"MULTI"}).str, "OK");
  ASSERT_EQ(c.cmd({"SET", "wb:" + k1, "mine"}).str, "QUEUED");
  EXPECT_TRUE(c.cmd({"EXEC"}).is_nil());
  EXPECT_EQ(c.cmd({"GET", "wb:" + k1}).str, "theirs");
  ASSERT_EQ(c.cmd({"MULTI"}).str, "OK");
  ASSERT_EQ(c.cmd({"SET", "wb:" + k1, "mine"}).str, "QUEUED");
  ASSERT_EQ(c.cmd({"SET", k1, "through"}).str, "QUEUED");
  r = c.cmd({"EXEC"});
  EXPECT_EQ(r.str, "ERR EXEC: the transaction mixes write-through and write-behind keys, "
                   "which cannot be one atomic write; nothing was run");
  EXPECT_EQ(c.cmd({"GET", "wb:" + k1}).str, "theirs");
  EXPECT_TRUE(c.cmd({"GET", k1}).is_nil());
}

// expiry = "cache" (every write-behind namespace): EXPIRE gives the cache
// copy its TTL once the value is in PostgreSQL; the value never expires.
TEST_F(WriteBehind, ExpireSetsTheCacheCopysTtlOnceTheValueIsPersisted) {
  auto svc = start_service_with([](config& cfg) { wb(cfg).flush_interval = 300ms; });
  resp_client c(svc->port());
  auto id = key();
  EXPECT_EQ(c.cmd({"TTL", "wb:" + id}).number, -2);
  ASSERT_EQ(c.cmd({"SET", "wb:" + id, "v"}).str, "OK");
  EXPECT_EQ(c.cmd({"TTL", "wb:" + id}).number, -1);  // pending, not in its row yet
  EXPECT_EQ(c.cmd({"PEXPIRETIME", "wb:" + id}).number, -1);
  EXPECT_EQ(c.cmd({"EXPIRE", "wb:" + id, "100000", "NX"}).number, 1);
  EXPECT_EQ(c.cmd({"TTL", "wb:" + id}).number, -1);  // the value has none
  ASSERT_TRUE(eventually([&] {
    auto pttl = redis({"PTTL", cache_key("wb:" + id)}).number;
    return pttl > 99'000'000 && pttl <= 100'000'000;
  }));
  EXPECT_EQ(row_of(id), "v");
}

// A write-behind namespace with expiry = "value" (table wbx_items).
config value_expiry_config() {
  sql("CREATE TABLE IF NOT EXISTS wbx_items (id text PRIMARY KEY, doc text NOT NULL, "
      "version bigint NOT NULL DEFAULT 0, expires_at timestamptz)");
  return test_config(R"(
[[namespace]]
prefix = "wbx:"
table = "wbx_items"
key_column = "id"
value_column = "doc"
value_type = "text"
mode = "write-behind"
expiry = "value"
flush_interval_ms = 20
)");
}

// The row of wbx_items: its value, and whether it has expired (<none>: no row).
std::string expiring_row_of(const std::string& id) {
  auto r = sql("SELECT doc, expires_at IS NOT NULL AND expires_at <= now() FROM wbx_items "
               "WHERE id = $1", id);
  if (r.empty())
    return "<none>";
  return r[0][0].as<std::string>() + (r[0][1].as<bool>() ? " (expired)" : "");
}

// expiry = "value" on a write-behind key: a queued value that expires is
// absent on every node while an older row is still in PostgreSQL (its
// entry says so until the writer gets to it), then in its row too, also
// once the cache entry is gone.
TEST_F(WriteBehind, WithValueExpiryAQueuedValueThatExpiredIsAbsentOnEveryNodeAndInItsRow) {
  auto cfg = value_expiry_config();
  cfg.reap_interval = std::chrono::hours(1);  // the row stays, expired, for this test to see
  auto id = key();
  auto k = "wbx:" + id;
  sql("INSERT INTO wbx_items (id, doc, version) VALUES ($1, 'old', 1)", id);
  // Until released, no writer may take the streams: the queue waits.
  auto locks = std::make_unique<stream_locks>(streams_of(cfg));
  auto one = service::start(*sys_, cfg);
  auto two = service::start(*sys_, cfg);
  resp_client c1(one->port()), c2(two->port());
  EXPECT_EQ(c2.cmd({"GET", k}).str, "old");  // read through, cached
  ASSERT_EQ(c1.cmd({"SET", k, "new", "PX", "2000"}).str, "OK");
  EXPECT_EQ(c2.cmd({"GET", k}).str, "new");
  auto pttl = c2.cmd({"PTTL", k}).number;
  EXPECT_TRUE(pttl > 0 && pttl <= 2000) << pttl;
  EXPECT_EQ(c1.cmd({"EXISTS", k}).number, 1);
  ASSERT_TRUE(eventually([&] { return c2.cmd({"GET", k}).is_nil(); }));
  EXPECT_EQ(expiring_row_of(id), "old");  // the older row is still there, and yet:
  for (auto* c : {&c1, &c2}) {
    EXPECT_TRUE(c->cmd({"GET", k}).is_nil());
    EXPECT_EQ(c->cmd({"EXISTS", k}).number, 0);
    EXPECT_EQ(c->cmd({"TTL", k}).number, -2);
    EXPECT_EQ(c->cmd({"STRLEN", k}).number, 0);
    EXPECT_TRUE(c->cmd({"GETEX", k, "PERSIST"}).is_nil());
  }
  EXPECT_EQ(c1.cmd({"APPEND", k, "x"}).number, 1);  // from nothing: the value expired
  EXPECT_EQ(c1.cmd({"SET", k, "later", "PX", "500", "GET"}).str, "x");
  ASSERT_TRUE(eventually([&] { return c1.cmd({"GET", k}).is_nil(); }));
  locks->release();
  ASSERT_TRUE(eventually([&] { return expiring_row_of(id) == "later (expired)"; }));
  // The cache entry lost (evicted, flushed): the row decides, and it has expired.
  redis({"DEL", cache_key(k)});
  for (auto* c : {&c1, &c2}) {
    EXPECT_TRUE(c->cmd({"GET", k}).is_nil());
    EXPECT_EQ(c->cmd({"EXISTS", k}).number, 0);
    EXPECT_EQ(c->cmd({"PTTL", k}).number, -2);
  }
  EXPECT_EQ(c2.cmd({"SET", k, "again", "NX", "EX", "100"}).str, "OK");
  EXPECT_EQ(c1.cmd({"GET", k}).str, "again");
  EXPECT_TRUE(eventually([&] { return expiring_row_of(id) == "again"; }));
  auto ttl = c1.cmd({"TTL", k}).number;
  EXPECT_TRUE(ttl > 98 && ttl <= 100) << ttl;
  EXPECT_EQ(c1.cmd({"PERSIST", k}).number, 1);
  EXPECT_EQ(c2.cmd({"TTL", k}).number, -1);
  EXPECT_TRUE(eventually([&] {
    return sql("SELECT expires_at IS NULL FROM wbx_items WHERE id = $1", id)[0][0].as<bool>();
  }));
  two->stop();
  one->stop();
}

// The reaper deletes an expired write-behind row through the key's queue
// (a DEL decided from its newest state), leaving the key tombstoned; a key
// renewed by a queued write is left alone.
TEST_F(WriteBehind, WithValueExpiryTheReaperDeletesExpiredRowsThroughTheQueue) {
  auto cfg = value_expiry_config();
  cfg.reap_interval = 50ms;
  auto svc = service::start(*sys_, cfg);
  resp_client c(svc->port());
  auto gone = key(), kept = key();
  ASSERT_EQ(c.cmd({"SET", "wbx:" + gone, "v", "PX", "1000"}).str, "OK");
  ASSERT_EQ(c.cmd({"SET", "wbx:" + kept, "v", "PX", "1000"}).str, "OK");
  ASSERT_EQ(c.cmd({"PERSIST", "wbx:" + kept}).number, 1);
  // Only the reaper's DEL makes the entry a DEL ("x"): the writer leaves a
  // value's entry as it was.
  // Once persisted, the entry gets its tombstone TTL: tombstoned, for a while.
  ASSERT_TRUE(eventually([&] {
    return expiring_row_of(gone) == "<none>" && redis({"HGET", cache_key("wbx:" + gone), "k"}).str == "x" &&
           redis({"PTTL", cache_key("wbx:" + gone)}).number > 0;
  }));
  EXPECT_TRUE(c.cmd({"GET", "wbx:" + gone}).is_nil());
  EXPECT_TRUE(eventually([&] { return expiring_row_of(kept) == "v"; }));
  EXPECT_EQ(c.cmd({"GET", "wbx:" + kept}).str, "v");
  EXPECT_EQ(c.cmd({"TTL", "wbx:" + kept}).number, -1);
  svc->stop();
}

// A value PostgreSQL refuses for good goes to wtcache_dead_letters with the
// error and its key; the other entries of the batch land, and the cache
// entry is invalidated so reads show what the database has.
TEST_F(WriteBehind, APoisonEntryGoesToTheDeadLettersAndTheRestLand) {
  auto svc = start_service_with([](config& cfg) { wb(cfg).flush_interval = 100ms; });
  resp_client c(svc->port());
  auto bad = key(), good1 = key(), good2 = key(), twice = key();
  c.append({"SET", "wb:" + good1, "fine"});
  c.append({"SET", "wb:" + bad, "poison"});
  c.append({"SET", "wb:" + good2, "also fine"});
  // Coalesced in one batch: the refused newest value falls back to the one
  // before it, as if the writes had been applied one by one.
  c.append({"SET", "wb:" + twice, "first"});
  c.append({"SET", "wb:" + twice, "poison"});
  for (int i = 0; i < 5; ++i)
    ASSERT_EQ(c.read().str, "OK");
  ASSERT_TRUE(eventually([&] {
    return sql("SELECT 1 FROM wtcache_dead_letters WHERE key = $1", "wb:" + bad).size() == 1;
  }));
  auto dl = sql("SELECT table_name, operation, error, value FROM wtcache_dead_letters "
                "WHERE key = $1", "wb:" + bad);
  EXPECT_EQ(dl[0][0].as<std::string>(), "wb_items");
  EXPECT_EQ(dl[0][1].as<std::string>(), "set");
  EXPECT_NE(dl[0][2].as<std::string>().find("check constraint"), std::string::npos)
    << dl[0][2].as<std::string>();
  EXPECT_TRUE(eventually([&] { return row_of(good1) == "fine" && row_of(good2) == "also fine"; }));
  EXPECT_EQ(row_of(bad), "<none>");
  EXPECT_TRUE(eventually([&] { return row_of(twice) == "first"; }));
  EXPECT_TRUE(eventually([&] { return c.cmd({"GET", "wb:" + twice}).str == "first"; }));
  EXPECT_TRUE(eventually([&] { return c.cmd({"GET", "wb:" + bad}).is_nil(); }));
  EXPECT_GE(wb_figure(svc->port(), "dead_letters"), 1);
  EXPECT_TRUE(eventually([&] { return wb_figure(svc->port(), "queue_depth") == 0; }));
}

// A batch goes to PostgreSQL in one statement per kind (SETs, DELs). A
// jsonb value comes back into the cache as PostgreSQL normalised it. Two
// client keys of one row ("7" and "07" of a bigint key) cannot be in one
// such statement: that batch goes row by row, and the newest value wins.
TEST_F(WriteBehind, ABatchLandsInOneStatementAndTwoKeysOfOneRowStillLand) {
  auto cfg = test_config(items_namespace("wbj:", "wbj_items", "bigint", "jsonb", true, 50));
  auto base = static_cast<long long>(std::hash<std::string>{}(key()) % 100'000'000) * 10;
  auto id = [&](int i) { return std::to_string(base + i); };
  auto doc = [&](int i) {
    auto r = sql("SELECT doc::text FROM wbj_items WHERE id = $1", id(i));
    return r.empty() ? std::string("<none>") : r[0][0].as<std::string>();
  };
  sql("INSERT INTO wbj_items (id, doc, version) VALUES ($1, '\"old\"', 1)", id(3));
  auto svc = service::start(*sys_, cfg);
  resp_client c(svc->port());
  // One batch: two new rows, a DEL, then two keys of one row.
  c.append({"SET", "wbj:" + id(1), "{\"n\":1}"});
  c.append({"SET", "wbj:" + id(2), "{\"n\":2}"});
  c.append({"DEL", "wbj:" + id(3)});
  for (int i = 0; i < 3; ++i)
    c.read();
  ASSERT_TRUE(eventually([&] { return doc(1) == "{\"n\": 1}" && doc(2) == "{\"n\": 2}"; }))
    << doc(1) << " " << doc(2);
  EXPECT_TRUE(eventually([&] { return doc(3) == "<none>"; }));
  // The cache holds the row's text, as a read through would return it.
  EXPECT_TRUE(eventually([&] { return c.cmd({"GET", "wbj:" + id(1)}).str == "{\"n\": 1}"; }));
  c.append({"SET", "wbj:" + id(4), "{\"v\":1}"});
  c.append({"SET", "wbj:0" + id(4), "{\"v\":2}"});
  c.append({"SET", "wbj:" + id(5), "{\"v\":5}"});
  for (int i = 0; i < 3; ++i)
    ASSERT_EQ(c.read().str, "OK");
  EXPECT_TRUE(eventually([&] { return doc(4) == "{\"v\": 2}" && doc(5) == "{\"v\": 5}"; }))
    << doc(4) << " " << doc(5);
  EXPECT_EQ(sql("SELECT 1 FROM wtcache_dead_letters WHERE table_name = 'wbj_items'").size(), 0u);
  EXPECT_TRUE(eventually([&] {
    resp_client q(svc->port());
    auto line = info_field(q.cmd({"INFO", "write-behind"}).str, "wb_wbj_items");
    return list_field(line, "queue_depth") == "0";
  }));
}

// A character(4) key: the batched statements cast to character without
// its length would be character(1), and write every key to row "a".
// Write-through's batched upsert casts the same way.
TEST_F(WriteBehind, AFixedLengthKeyIsNeverCutToOneCharacter) {
  auto toml = items_namespace("wbc:", "wbc_items", "character(4)", "text") + "\n" +
              items_namespace("w4:", "wtc4_items", "character(4)", "text", false);
  sql("DELETE FROM wbc_items");
  sql("DELETE FROM wtc4_items");
  sql("INSERT INTO wbc_items (id, doc, version) VALUES ('a', 'other row', 1)");
  auto cfg = test_config(toml);
  auto svc = service::start(*sys_, cfg);
  resp_client c(svc->port());
  auto doc = [&](const char* table, const std::string& id) {
    auto r = sql(std::string("SELECT doc FROM ") + table + " WHERE id = $1", id);
    return r.empty() ? std::string("<none>") : r[0][0].as<std::string>();
  };
  ASSERT_EQ(c.cmd({"SET", "wbc:abcd", "one"}).str, "OK");
  EXPECT_TRUE(eventually([&] { return doc("wbc_items", "abcd") == "one"; }));
  ASSERT_EQ(c.cmd({"DEL", "wbc:abcd"}).number, 1);
  EXPECT_TRUE(eventually([&] { return doc("wbc_items", "abcd") == "<none>"; }));
  EXPECT_EQ(doc("wbc_items", "a"), "other row");
  ASSERT_EQ(c.cmd({"MSET", "w4:abcd", "x", "w4:abce", "y"}).str, "OK");
  EXPECT_EQ(doc("wtc4_items", "abcd"), "x");
  EXPECT_EQ(doc("wtc4_items", "abce"), "y");
  auto long_key = c.cmd({"MSET", "w4:abcdef", "z", "w4:abcg", "z"});
  EXPECT_TRUE(long_key.is_error()) << long_key;
  EXPECT_EQ(doc("wtc4_items", "abcg"), "<none>");
}

// A client key named like one of the queue's own keys (its stream, its
// counters) is a key like any other: the layout keeps entries apart from
// the queue's keys, and the queue goes on.
TEST_F(WriteBehind, AKeyNamedLikeTheQueuesOwnIsAKeyLikeAnyOther) {
  auto cfg = test_config(items_namespace("wbq:", "wbq_items", "text", "text"));
  auto svc = service::start(*sys_, cfg);
  resp_client c(svc->port());
  ASSERT_EQ(c.cmd({"SET", "wbq:before", "1"}).str, "OK");
  key_layout layout;
  auto g = layout.group_of("wbq:x");
  // What the stream and the counters of a key's group are called, past the tag.
  auto stream = layout.stream("wbq_items", g).substr(layout.tag(g).size());
  auto stats = layout.stats("wbq_items", g).substr(layout.tag(g).size());
  ASSERT_EQ(c.cmd({"SET", "wbq:" + stream, "x"}).str, "OK");
  ASSERT_EQ(c.cmd({"SET", "wbq:" + stats, "y"}).str, "OK");
  ASSERT_EQ(c.cmd({"SET", "wbq:after", "2"}).str, "OK");
  EXPECT_TRUE(eventually([&] {
    return sql("SELECT doc FROM wbq_items WHERE id IN ('before', 'after', $1, $2) ORDER BY id",
               stream, stats).size() == 4;
  }));
  EXPECT_EQ(c.cmd({"GET", "wbq:" + stream}).str, "x");
  EXPECT_EQ(c.cmd({"GET", "wbq:" + stats}).str, "y");
}

// PostgreSQL stopped: writes are still acknowledged until the queue limit,
// then -BUSY; once it is back everything drains, nothing is lost and no row
// goes backwards; writes are accepted again below the low watermark.
// The limit is per group of the key layout (the namespace's, divided by the
// groups): these keys share one hash tag, so one group, and its limit is 40.
TEST_F(WriteBehind, ADatabaseOutageQueuesUpToTheLimitThenDrains) {
  auto svc = start_service_with([](config& cfg) {
    wb(cfg).max_queue_entries = 40 * cfg.redis_groups;
    wb(cfg).low_watermark = 0.5;
  });
  resp_client c(svc->port());
  auto base = "{" + key() + "}";
  servers::get().stop_postgres();
  std::map<std::string, std::string> acknowledged;
  int ok = 0;
  std::string refusal;
  for (int i = 0; i < 100 && refusal.empty(); ++i) {
    auto k = base + "-" + std::to_string(i % 10);  // 10 keys, written again and again
    auto r = c.cmd({"SET", "wb:" + k, "v" + std::to_string(i)});
    if (r.str == "OK") {
      acknowledged[k] = "v" + std::to_string(i);
      ++ok;
    } else {
      refusal = r.str;
    }
  }
  EXPECT_EQ(ok, 40);
  EXPECT_EQ(refusal, "BUSY write-behind queue full");
  EXPECT_EQ(c.cmd({"GET", "wb:" + base + "-3"}).str, acknowledged[base + "-3"]);
  EXPECT_TRUE(eventually([&] { return wb_figure(svc->port(), "queue_depth") == 40; }));
  EXPECT_TRUE(eventually([&] { return wb_figure(svc->port(), "retries") > 0; }));
  servers::get().start_postgres();
  ASSERT_TRUE(eventually([&] { return wb_figure(svc->port(), "queue_depth") == 0; }, 30s));
  for (auto& [k, v] : acknowledged)
    EXPECT_EQ(row_of(k), v) << k;
  EXPECT_EQ(c.cmd({"SET", "wb:" + base + "-after", "x"}).str, "OK");
}

// A stop (SIGTERM in wtcached) drains the queue into PostgreSQL first.
TEST_F(WriteBehind, StoppingFlushesTheQueue) {
  auto svc = start_service_with([](config& cfg) { wb(cfg).flush_interval = 60s; });
  resp_client c(svc->port());
  auto base = key();
  for (int i = 0; i < 50; ++i)
    c.append({"SET", "wb:" + base + "-" + std::to_string(i), "last" + std::to_string(i)});
  for (int i = 0; i < 50; ++i)
    ASSERT_EQ(c.read().str, "OK");
  // A writer waits for its batch to fill; nothing is in PostgreSQL yet.
  EXPECT_EQ(row_of(base + "-0"), "<none>");
  stop_line log(streams_of(suite_config()));
  svc->stop();
  EXPECT_TRUE(log.drained()) << log.line();
  EXPECT_TRUE(log.matches_redis());
  for (int i = 0; i < 50; ++i)
    EXPECT_EQ(row_of(base + "-" + std::to_string(i)), "last" + std::to_string(i));
}

// Redis under maxmemory evicts cache entries, but never a value that is
// still on its way to PostgreSQL: a GET never returns the older row.
TEST_F(WriteBehind, EvictionNeverMakesAReadReturnAnOlderRow) {
  auto svc = start_service_with([](config& cfg) { wb(cfg).flush_interval = 60s; });
  resp_client c(svc->port());
  auto base = key();
  constexpr int n = 200;
  for (int i = 0; i < n; ++i)
    sql("INSERT INTO wb_items (id, doc, version) VALUES ($1, 'old', 1)", base + std::to_string(i));
  for (int i = 0; i < n; ++i)
    ASSERT_EQ(c.cmd({"SET", "wb:" + base + std::to_string(i), "new"}).str, "OK");
  auto used = [] {
    auto text = redis({"INFO", "memory"}).str;
    auto pos = text.find("used_memory:");
    return std::stoll(text.substr(pos + 12));
  };
  redis({"CONFIG", "SET", "maxmemory-policy", "volatile-lru"});
  redis({"CONFIG", "SET", "maxmemory", std::to_string(used() + 4 * 1024 * 1024)});
  auto evicted = [] {
    auto text = redis({"INFO", "stats"}).str;
    return std::stoll(text.substr(text.find("evicted_keys:") + 13));
  };
  auto before = evicted();
  {
    // Cache traffic with TTLs, far more than fits.
    resp_client r(servers::get().redis_port());
    std::string blob(4096, 'x');
    for (int i = 0; i < 4000; ++i)
      r.append({"SET", "junk:" + base + std::to_string(i), blob, "EX", "600"});
    for (int i = 0; i < 4000; ++i)
      r.read();
  }
  EXPECT_GT(evicted(), before);
  for (int i = 0; i < n; ++i)
    EXPECT_EQ(c.cmd({"GET", "wb:" + base + std::to_string(i)}).str, "new") << i;
  redis({"CONFIG", "SET", "maxmemory", "0"});
  redis({"CONFIG", "SET", "maxmemory-policy", "noeviction"});
  svc->stop();
  EXPECT_EQ(row_of(base + "0"), "new");
}

// A Redis that may evict keys without a TTL would lose the queue: refused,
// saying why and what to set; a volatile-* policy is fine.
TEST_F(WriteBehind, ARedisThatMayEvictTheQueueIsRefused) {
  redis({"CONFIG", "SET", "maxmemory-policy", "allkeys-lru"});
  try {
    start_service_with([](config&) {});
    ADD_FAILURE() << "started on an allkeys-lru Redis";
  } catch (const config_error& e) {
    std::string what = e.what();
    EXPECT_NE(what.find("maxmemory-policy is allkeys-lru"), std::string::npos) << what;
    EXPECT_NE(what.find("volatile-lru"), std::string::npos) << what;
  }
  redis({"CONFIG", "SET", "maxmemory-policy", "volatile-lru"});
  EXPECT_NO_THROW(start_service_with([](config&) {})->stop());
  redis({"CONFIG", "SET", "maxmemory-policy", "noeviction"});
}

// Versions come from Redis's clock, not from a counter kept in Redis: after
// Redis loses everything (here FLUSHALL, the queue drained before), new
// writes still carry versions above the rows', so the apply that only moves
// rows forward does not drop them. The writers recreate their consumer group.
TEST_F(WriteBehind, VersionsKeepGrowingWhenRedisLosesItsData) {
  auto svc = start_service_with([](config&) {});
  resp_client c(svc->port());
  auto id = key();
  ASSERT_EQ(c.cmd({"SET", "wb:" + id, "before"}).str, "OK");
  ASSERT_TRUE(eventually([&] { return row_of(id) == "before"; }));
  auto v1 = sql("SELECT version FROM wb_items WHERE id = $1", id)[0][0].as<long long>();
  ASSERT_TRUE(eventually([&] { return wb_figure(svc->port(), "queue_depth") == 0; }));
  ASSERT_EQ(redis({"FLUSHALL"}).str, "OK");
  ASSERT_EQ(c.cmd({"SET", "wb:" + id, "after"}).str, "OK");
  ASSERT_TRUE(eventually([&] { return row_of(id) == "after"; }, 15s));
  EXPECT_GT(sql("SELECT version FROM wb_items WHERE id = $1", id)[0][0].as<long long>(), v1);
  // Integers keep Redis's full 64-bit range (the arithmetic is Redis's own).
  ASSERT_EQ(c.cmd({"SET", "wb:" + id, "9007199254740993"}).str, "OK");
  EXPECT_EQ(c.cmd({"INCR", "wb:" + id}).number, 9007199254740994LL);
  EXPECT_EQ(c.cmd({"INCRBY", "wb:" + id, "9223372036854775807"}).str,
            "ERR increment or decrement would overflow");
  EXPECT_TRUE(eventually([&] { return row_of(id) == "9007199254740994"; }));
}

// A Lua script does not roll back: a queue key that some other program
// overwrote must make the command fail before it writes anything.
TEST_F(WriteBehind, AClobberedQueueKeyRefusesTheWriteAndChangesNothing) {
  auto svc = start_service_with([](config&) {});
  resp_client c(svc->port());
  auto id = key();
  ASSERT_TRUE(eventually([&] { return wb_figure(svc->port(), "queue_depth") == 0; }));
  key_layout layout;
  auto stats = layout.stats("wb_items", layout.group_of("wb:" + id));
  auto saved = redis({"HGETALL", stats});
  ASSERT_EQ(redis({"SET", stats, "not a hash"}).str, "OK");
  auto r = c.cmd({"SET", "wb:" + id, "v"});
  EXPECT_TRUE(r.is_error());
  EXPECT_NE(r.str.find("hold something else"), std::string::npos) << r.str;
  EXPECT_EQ(redis({"EXISTS", cache_key("wb:" + id)}).number, 0);
  std::vector<std::string> restore = {"HSET", stats};
  for (auto& e : saved.elements)
    restore.push_back(e.str);
  redis({"DEL", stats});
  if (restore.size() > 2)
    redis(restore);
  EXPECT_EQ(c.cmd({"SET", "wb:" + id, "v"}).str, "OK");
  EXPECT_TRUE(eventually([&] { return row_of(id) == "v"; }));
}

// Switching a namespace back to write-through while its queue still holds
// entries would strand them: refused, saying how to drain it.
TEST_F(WriteBehind, AWriteThroughNamespaceWithAQueueLeftIsRefused) {
  auto stats = key_layout{}.stats("user_sessions", 17);
  ASSERT_EQ(redis({"HSET", stats, "n", "3"}).number, 1);
  try {
    start_service_with([](config&) {});
    ADD_FAILURE() << "started with 3 entries stranded";
  } catch (const config_error& e) {
    EXPECT_NE(std::string(e.what()).find("still holds 3 entries"), std::string::npos) << e.what();
  }
  redis({"DEL", stats});
}

// A key's changes must stay in one stream, drained by one writer: changing
// `writers` while the queue holds entries is refused.
TEST_F(WriteBehind, ChangingTheNumberOfWritersNeedsAnEmptyQueue) {
  auto stats = key_layout{}.stats("wb_items", 3);
  ASSERT_FALSE(redis({"HSET", stats, "n", "5"}).is_error());
  try {
    start_service_with([](config& cfg) { wb(cfg).writers = 3; });
    ADD_FAILURE() << "started with 5 entries drained by 2 writers and writers = 3";
  } catch (const config_error& e) {
    EXPECT_NE(std::string(e.what()).find("run with writers = 2"), std::string::npos) << e.what();
  }
  redis({"HSET", stats, "n", "0"});
  EXPECT_NO_THROW(start_service_with([](config& cfg) { wb(cfg).writers = 3; })->stop());
  redis({"HSET", key_layout{}.meta(), "writers:wb_items", "2"});
}

// The same for the groups of the key layout: a key's group decides its
// stream.
TEST_F(WriteBehind, ChangingTheNumberOfGroupsNeedsAnEmptyQueue) {
  auto stats = key_layout{}.stats("wb_items", 200);
  ASSERT_FALSE(redis({"HSET", stats, "n", "4"}).is_error());
  try {
    start_service_with([](config& cfg) { cfg.redis_groups = 512; });
    ADD_FAILURE() << "started with 4 entries in 256 groups and groups = 512";
  } catch (const config_error& e) {
    EXPECT_EQ(e.field, "redis.groups");
    EXPECT_NE(std::string(e.what()).find("run with groups = 256"), std::string::npos) << e.what();
  }
  redis({"HSET", stats, "n", "0"});
  // Empty: it may change, and the next start finds the new count.
  start_service_with([](config& cfg) { cfg.redis_groups = 512; })->stop();
  EXPECT_EQ(redis({"HGET", key_layout{}.meta(), "groups"}).str, "512");
  start_service_with([](config&) {})->stop();
  EXPECT_EQ(redis({"HGET", key_layout{}.meta(), "groups"}).str, "256");
}

// A data set of the layout before hash-tag groups: a queue that still
// holds entries is refused with the steps to take (this version does not
// read it); an empty one is removed, and its version clock still counts.
TEST_F(WriteBehind, AQueueOfTheEarlierKeyLayoutIsDrainedFirstOrRemoved) {
  ASSERT_FALSE(redis({"HSET", "wtc:wbq:wb_items:stats", "n", "2", "b", "10", "writers", "2"}).is_error());
  ASSERT_FALSE(redis({"XADD", "wtc:wbq:wb_items:1", "*", "k", "wb:a", "v", "1"}).is_error());
  try {
    start_service_with([](config&) {});
    ADD_FAILURE() << "started with 2 entries in the earlier layout's queue";
  } catch (const config_error& e) {
    std::string what = e.what();
    EXPECT_NE(what.find("still holds 2 entries"), std::string::npos) << what;
    EXPECT_NE(what.find("Start the previous wtcached"), std::string::npos) << what;
  }
  EXPECT_EQ(redis({"EXISTS", "wtc:wbq:wb_items:1"}).number, 1);  // nothing was changed
  redis({"HSET", "wtc:wbq:wb_items:stats", "n", "0", "b", "0"});
  // A clock ahead of every version issued since: the next write goes above it.
  auto ahead = std::to_string(
    std::chrono::duration_cast<std::chrono::microseconds>(
      std::chrono::system_clock::now().time_since_epoch()).count() + 3600LL * 1000000);
  ASSERT_EQ(redis({"SET", "wtc:wbclock", ahead}).str, "OK");
  auto svc = start_service_with([](config&) {});
  EXPECT_EQ(redis({"EXISTS", "wtc:wbq:wb_items:stats"}).number, 0);
  EXPECT_EQ(redis({"EXISTS", "wtc:wbq:wb_items:1"}).number, 0);
  EXPECT_EQ(redis({"EXISTS", "wtc:wbclock"}).number, 0);
  resp_client c(svc->port());
  auto id = key();
  ASSERT_EQ(c.cmd({"SET", "wb:" + id, "v"}).str, "OK");
  EXPECT_TRUE(eventually([&] { return row_of(id) == "v"; }));
  auto version = sql("SELECT version FROM wb_items WHERE id = $1", id);
  ASSERT_EQ(version.size(), 1u);
  EXPECT_GT(version[0][0].as<long long>(), std::stoll(ahead));
}

// Without Redis a write-behind key has no trustworthy answer (its newest
// value may not be in PostgreSQL yet): an error, never the older row.
TEST_F(WriteBehind, WithoutRedisAReadOfAWriteBehindKeyFailsRatherThanGoBack) {
  auto svc = start_service_with([](config& cfg) { wb(cfg).flush_interval = 60s; });
  resp_client c(svc->port());
  auto id = key();
  sql("INSERT INTO wb_items (id, doc, version) VALUES ($1, 'old', 1)", id);
  ASSERT_EQ(c.cmd({"SET", "wb:" + id, "new"}).str, "OK");
  servers::get().stop_redis();
  auto r = c.cmd({"GET", "wb:" + id});
  EXPECT_TRUE(r.is_error()) << r.str;
  EXPECT_NE(r.str, "old");
  servers::get().start_redis();
  EXPECT_TRUE(eventually([&] { return c.cmd({"GET", "wb:" + id}).str == "new"; }));
  svc->stop();
  EXPECT_EQ(row_of(id), "new");
}

// Stopped while PostgreSQL is down: the grace period passes, nothing is
// lost; the next start drains the queue.
TEST_F(WriteBehind, AStopThatCannotDrainLeavesTheQueueForTheNextStart) {
  auto base = key();
  auto svc = start_service_with([](config& cfg) { cfg.shutdown_grace = 300ms; });
  resp_client c(svc->port());
  servers::get().stop_postgres();
  for (int i = 0; i < 5; ++i)
    ASSERT_EQ(c.cmd({"SET", "wb:" + base + std::to_string(i), "kept"}).str, "OK");
  {
    stop_line log(streams_of(suite_config()));
    svc->stop();
    EXPECT_FALSE(log.drained()) << log.line();
    EXPECT_NE(log.line().find("5 entries still queued"), std::string::npos) << log.line();
    EXPECT_TRUE(log.matches_redis());
  }
  servers::get().start_postgres();
  EXPECT_EQ(row_of(base + "0"), "<none>");
  auto next = start_service_with([](config&) {});
  for (int i = 0; i < 5; ++i)
    EXPECT_TRUE(eventually([&] { return row_of(base + std::to_string(i)) == "kept"; }, 15s)) << i;
}

// Test for issue 13: a stop after Redis came back said "write-behind queues
// drained into PostgreSQL" while an acknowledged entry was still queued. The
// stream's writer was a standby (the lock was still held by the session of a
// service stopped a moment before), and a standby answered from a queue
// counter that its first Redis call after the restart had failed to
// refresh. Here the test holds the locks itself, so the writers stay
// standbys for the whole stop.
TEST_F(WriteBehind, AStopAfterRedisCameBackNeverSaysDrainedWhileAnEntryIsQueued) {
  auto cfg = suite_config();
  stream_locks other_node(streams_of(cfg));
  auto svc = start_service_with([](config& cfg) { cfg.shutdown_grace = 300ms; });
  resp_client c(svc->port());
  auto id = key();
  sql("INSERT INTO wb_items (id, doc, version) VALUES ($1, 'old', 1)", id);
  ASSERT_EQ(c.cmd({"SET", "wb:" + id, "new"}).str, "OK");
  servers::get().stop_redis();
  servers::get().start_redis();
  {
    stop_line log(streams_of(cfg));
    svc->stop();
    EXPECT_FALSE(log.drained()) << log.line();
    EXPECT_NE(log.line().find("1 entry still queued"), std::string::npos) << log.line();
    EXPECT_TRUE(log.matches_redis());
  }
  EXPECT_EQ(row_of(id), "old");
  // The entry was kept: once the lock is free, the next start drains it.
  other_node.release();
  auto next = start_service_with([](config&) {});
  EXPECT_TRUE(eventually([&] { return row_of(id) == "new"; }, 15s));
  stop_line log(streams_of(cfg));
  next->stop();
  EXPECT_TRUE(log.drained()) << log.line();
  EXPECT_TRUE(log.matches_redis());
}

// A stop returns only after its writers have let go of their streams: the
// next service (or node) started at once owns them, instead of waiting a
// poll interval as a standby while the old locks linger.
TEST_F(WriteBehind, AStopReturnsOnlyAfterEveryStreamLockIsFree) {
  auto cfg = suite_config();
  auto svc = start_service_with([](config&) {});
  resp_client c(svc->port());
  ASSERT_EQ(c.cmd({"SET", "wb:" + key(), "v"}).str, "OK");
  // Every stream's lock is taken: the writers drain, none stands by.
  ASSERT_TRUE(eventually([&] {
    for (auto& s : streams_of(cfg))
      if (sql("SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND granted AND objsubid = 1 "
              "AND ((classid::bigint << 32) | objid::bigint) = $1",
              stream_lock_id(s.name)).empty())
        return false;
    return true;
  }));
  svc->stop();
  EXPECT_NO_THROW(stream_locks taken(streams_of(cfg)));
}

// A standby whose stream's lock is freed while a stop waits takes the stream
// over and drains it within the grace period, shorter than the standby's
// usual poll of a second.
TEST_F(WriteBehind, AStandbyTakesTheStreamOverWhenItsLockIsFreedDuringAStop) {
  auto cfg = suite_config();
  auto locks = std::make_unique<stream_locks>(streams_of(cfg));  // the writers stand by
  auto svc = start_service_with([](config& cfg) { cfg.shutdown_grace = 800ms; });
  resp_client c(svc->port());
  auto id = key();
  ASSERT_EQ(c.cmd({"SET", "wb:" + id, "taken over"}).str, "OK");
  stop_line log(streams_of(cfg));
  auto stopped = std::async(std::launch::async, [&] { svc->stop(); });
  // Freed once the stop has begun to drain (the writers get the flush just
  // before or just after: either way they try the lock at once).
  EXPECT_TRUE(log.wait_for("write-behind: draining the queues"));
  locks->release();
  stopped.get();
  EXPECT_TRUE(log.drained()) << log.line();
  EXPECT_TRUE(log.matches_redis());
  EXPECT_EQ(row_of(id), "taken over");
}

// Redis gone at the stop: nothing can be said about the queues, and the
// line says exactly that instead of a figure.
TEST_F(WriteBehind, AStopWithoutRedisSaysItCannotTellWhatIsQueued) {
  auto svc = start_service_with([](config& cfg) { cfg.shutdown_grace = 300ms; });
  resp_client c(svc->port());
  auto id = key();
  ASSERT_EQ(c.cmd({"SET", "wb:" + id, "queued"}).str, "OK");
  servers::get().stop_redis();
  {
    stop_line log(streams_of(suite_config()));
    svc->stop();
    EXPECT_FALSE(log.drained()) << log.line();
    EXPECT_NE(log.line().find("cannot tell what is left of"), std::string::npos) << log.line();
    EXPECT_TRUE(log.matches_redis());
  }
  servers::get().start_redis();
  auto next = start_service_with([](config&) {});
  EXPECT_TRUE(eventually([&] { return row_of(id) == "queued"; }, 15s));
}

// settle.lua against a real Redis, with the entries a failover can leave:
// a Redis Cluster master that dies before its replica has its newest
// entries leaves the replica's older ones. One still at the version just
// persisted is unpinned; one older than it (the newer entry lost, its row
// written) becomes a tombstone at the persisted version, so that reads go
// to the row instead of serving the older value for good; a newer one
// (written since) is left alone.
TEST(SettleScript, AnEntryOlderThanThePersistedVersionBecomesATombstone) {
  resp_client r(servers::get().redis_port());
  key_layout layout;
  auto id = "settle" + std::to_string(::getpid());
  auto current = layout.entry("wb:" + id + "a"), older = layout.entry("wb:" + id + "b"),
       newer = layout.entry("wb:" + id + "c");
  for (auto* k : {&current, &older, &newer})
    r.cmd({"DEL", *k});
  r.cmd({"HSET", current, "v", "200", "k", "v", "d", "now"});
  r.cmd({"HSET", older, "v", "100", "k", "v", "d", "before"});
  r.cmd({"HSET", newer, "v", "300", "k", "v", "d", "since"});
  auto stream = layout.stream("wb_items", 0), stats = layout.stats("wb_items", 0);
  // No stream entries (those went with the master); three cache entries,
  // each persisted at version 200 with a TTL of 60 s.
  auto got = r.cmd({"EVAL", script_source(redis_script::settle), "5", stream, stats, current, older,
                    newer, "wtcache", "5000", "1", "0", "3", "200", "u", "60000", "0", "", "200",
                    "u", "60000", "0", "", "200", "u", "60000", "0", ""});
  ASSERT_FALSE(got.is_error()) << got.str;
  EXPECT_EQ(got.number, 0);
  EXPECT_EQ(r.cmd({"HGET", current, "d"}).str, "now");
  EXPECT_GT(r.cmd({"PTTL", current}).number, 50000);
  EXPECT_EQ(r.cmd({"HGET", older, "k"}).str, "t");
  EXPECT_EQ(r.cmd({"HGET", older, "v"}).str, "200");
  EXPECT_EQ(r.cmd({"HGET", older, "d"}).str, "");
  auto tomb_ttl = r.cmd({"PTTL", older}).number;
  EXPECT_GT(tomb_ttl, 0);
  EXPECT_LE(tomb_ttl, 5000);
  EXPECT_EQ(r.cmd({"HGET", newer, "d"}).str, "since");
  EXPECT_EQ(r.cmd({"HGET", newer, "k"}).str, "v");
  EXPECT_EQ(r.cmd({"PTTL", newer}).number, -1);
}
