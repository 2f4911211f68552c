// wtcache_modes_bench: the classic write-through vs write-behind comparison,
// on the embedded default (a private Redis with AOF everysec and PostgreSQL
// with fsync on, as wtcached starts them when given no URLs).
//
// The same workload runs against a write-through namespace and a
// write-behind namespace: N clients SET JSON session values for D seconds,
// each client over its own share of the keys, so every key has one well
// defined last acknowledged value. Then it waits for the write-behind queue
// to drain and verifies, for both modes and every key written:
//   - the PostgreSQL row equals the last acknowledged value (as jsonb);
//   - the cache entry, if present, equals the row and carries its version.
// Exit status 0 only when every comparison held.
#include <sys/stat.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include <hiredis/hiredis.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>
#include <pqxx/pqxx>

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>

#include "app/config.hpp"
#include "core/key_layout.hpp"
#include "app/embedded_servers.hpp"
#include "app/service.hpp"
#include "bench/bench_util.hpp"
#include "core/latency.hpp"

using namespace std::chrono;

namespace {

struct options {
  int clients = 16;
  double seconds = 5;
  int keys = 1000;
};

struct mode_result {
  std::string name, prefix, table;
  double writes_per_s = 0;
  double p50_ms = 0, p99_ms = 0, max_ms = 0;
  uint64_t acked = 0, errors = 0;
  double drain_s = 0;
  uint64_t row_writes = 0;
  // verification
  uint64_t keys = 0, db_equal = 0, cache_equal = 0, cache_absent = 0, mismatches = 0;
  std::vector<int64_t> last;  // per key: the last acknowledged sequence number, -1 none
};

redisContext* connect(uint16_t port) { return wtcache::bench::connect("127.0.0.1", port); }

// A session document of a few hundred bytes, different for every write.
std::string session_value(int key, int64_t seq) {
  return "{\"user_id\": " + std::to_string(key) + ", \"seq\": " + std::to_string(seq) +
         ", \"cart\": [{\"sku\": \"A-" + std::to_string(seq % 97) +
         "\", \"qty\": 1}, {\"sku\": \"B-7\", \"qty\": 2}], \"locale\": \"en-GB\", "
         "\"csrf\": \"4f9c2b7e1d0a8c6b5e3f2a1d9c8b7a6e\", \"last_page\": \"/checkout/step-" +
         std::to_string(seq % 5) + "\"}";
}

void run_mode(mode_result& m, const options& o, uint16_t port) {
  wtcache::latency_histogram hist;
  std::atomic<uint64_t> errors{0}, max_us{0};
  std::atomic<bool> go{false};
  m.last.assign(static_cast<std::size_t>(o.keys), -1);
  std::vector<std::thread> threads;
  auto deadline = steady_clock::now() + duration<double>(o.seconds) + milliseconds(100);
  for (int t = 0; t < o.clients; ++t)
    threads.emplace_back([&, t] {
      auto* c = connect(port);
      while (!go.load())
        std::this_thread::yield();
      int64_t seq = 0;
      // Client t owns the keys k with k % clients == t.
      for (int k = t; steady_clock::now() < deadline; k += o.clients) {
        if (k >= o.keys)
          k = t;
        if (k >= o.keys)
          break;
        auto key = m.prefix + std::to_string(k);
        auto value = session_value(k, ++seq);
        const char* args[] = {"SET", key.c_str(), value.c_str()};
        size_t lens[] = {3, key.size(), value.size()};
        auto start = steady_clock::now();
        auto* r = static_cast<redisReply*>(redisCommandArgv(c, 3, args, lens));
        auto us = static_cast<uint64_t>(duration_cast<microseconds>(steady_clock::now() - start).count());
        bool ok = r && r->type == REDIS_REPLY_STATUS;
        if (r)
          freeReplyObject(r);
        if (!ok) {
          errors.fetch_add(1);
          continue;
        }
        hist.record(microseconds(us));
        for (auto seen = max_us.load(); us > seen && !max_us.compare_exchange_weak(seen, us);) {
        }
        m.last[static_cast<std::size_t>(k)] = seq;
      }
      redisFree(c);
    });
  auto start = steady_clock::now();
  go = true;
  for (auto& t : threads)
    t.join();
  double elapsed = duration<double>(steady_clock::now() - start).count();
  m.acked = hist.count();
  m.errors = errors.load();
  m.writes_per_s = static_cast<double>(m.acked) / elapsed;
  m.p50_ms = static_cast<double>(hist.percentile(0.5).count()) / 1000.0;
  m.p99_ms = static_cast<double>(hist.percentile(0.99).count()) / 1000.0;
  m.max_ms = static_cast<double>(max_us.load()) / 1000.0;
}

// Waits until the namespace's write-behind queue is empty; seconds taken.
double wait_for_drain(const mode_result& m, uint16_t redis_port) {
  auto* c = connect(redis_port);
  auto start = steady_clock::now();
  wtcache::key_layout layout;
  for (;;) {
    // The queue's counters, one hash per group of the key layout.
    for (std::size_t g = 0; g < layout.groups; ++g)
      redisAppendCommand(c, "HGET %s n", layout.stats(m.table, g).c_str());
    long long queued = 0;
    bool answered = true;
    for (std::size_t g = 0; g < layout.groups; ++g) {
      void* raw = nullptr;
      if (redisGetReply(c, &raw) != REDIS_OK) {
        answered = false;
        break;
      }
      auto* r = static_cast<redisReply*>(raw);
      if (r->type == REDIS_REPLY_STRING)
        queued += std::atoll(r->str);
      freeReplyObject(r);
    }
    if ((answered && queued == 0) || steady_clock::now() - start > seconds(120))
      break;
    std::this_thread::sleep_for(milliseconds(10));
  }
  redisFree(c);
  return duration<double>(steady_clock::now() - start).count();
}

void verify(mode_result& m, const options& o, const std::string& pg_url, uint16_t redis_port) {
  pqxx::connection pg(pg_url);
  pg.prepare("row", "SELECT data::text, version, data = $2::jsonb FROM " + m.table +
                      " WHERE session_id = $1");
  pg.prepare("same", "SELECT $1::jsonb = $2::jsonb");
  auto* redis = connect(redis_port);
  pqxx::nontransaction tx(pg);
  for (int k = 0; k < o.keys; ++k) {
    auto seq = m.last[static_cast<std::size_t>(k)];
    if (seq < 0)
      continue;
    ++m.keys;
    auto id = std::to_string(k);
    auto row = tx.exec_prepared("row", id, session_value(k, seq));
    if (row.empty() || !row[0][2].as<bool>()) {
      ++m.mismatches;
      continue;
    }
    ++m.db_equal;
    auto entry_key = wtcache::key_layout{}.entry(m.prefix + id);
    auto* r = static_cast<redisReply*>(redisCommand(redis, "HMGET %s v k d", entry_key.c_str()));
    if (!r || r->type != REDIS_REPLY_ARRAY || r->element[0]->type != REDIS_REPLY_STRING) {
      ++m.cache_absent;
    } else {
      std::string version(r->element[0]->str, r->element[0]->len);
      std::string data(r->element[2]->str, r->element[2]->len);
      bool value_kind = r->element[1]->len == 1 && r->element[1]->str[0] == 'v';
      bool same = value_kind && version == row[0][1].as<std::string>() &&
                  tx.exec_prepared("same", data, row[0][0].as<std::string>())[0][0].as<bool>();
      if (same)
        ++m.cache_equal;
      else
        ++m.mismatches;
    }
    if (r)
      freeReplyObject(r);
  }
  redisFree(redis);
}

constexpr const char* usage =
  "usage: wtcache_modes_bench [--clients N] [--seconds S] [--keys K]\n"
  "Runs the same SET workload (JSON session values) against a write-through and a\n"
  "write-behind namespace on a private Redis + PostgreSQL, then verifies PostgreSQL\n"
  "and the cache against the last acknowledged value of every key.\n";

}  // namespace

int main(int argc, char** argv) {
  spdlog::set_default_logger(spdlog::stderr_color_mt("bench"));  // stdout: the tables only
  options o;
  wtcache::bench::parse_flags(argc, argv, usage, [&](const std::string& f, const std::string& v) {
    if (f == "--clients") o.clients = std::stoi(v);
    else if (f == "--seconds") o.seconds = std::stod(v);
    else if (f == "--keys") o.keys = std::stoi(v);
    else return false;
    return true;
  });
  if (o.clients < 1 || o.keys < o.clients || o.seconds <= 0) {
    std::fprintf(stderr, "need --clients >= 1, --keys >= --clients, --seconds > 0\n");
    return 2;
  }

  char tmpl[] = "/tmp/wtcache-modes-XXXXXX";
  std::string dir = ::mkdtemp(tmpl);
  ::chmod(dir.c_str(), 0755);
  std::fprintf(stderr, "starting Redis (AOF everysec) and PostgreSQL (fsync on) in %s ...\n",
               dir.c_str());
  wtcache::embedded_postgres postgres;
  const char* schema =
    "CREATE TABLE bench_sessions_wt (session_id text PRIMARY KEY, data jsonb NOT NULL, "
    "updated_at timestamptz NOT NULL DEFAULT now(), version bigint NOT NULL DEFAULT 0);"
    "CREATE TABLE bench_sessions_wb (LIKE bench_sessions_wt INCLUDING ALL);";
  postgres.start(dir + "/postgres", std::string(wtcache::demo_sql) + schema, true);
  wtcache::embedded_redis redis;
  redis.start(dir + "/redis");

  std::string namespaces;
  for (auto [prefix, table, mode] :
       {std::tuple{"wt:", "bench_sessions_wt", "write-through"},
        std::tuple{"wb:", "bench_sessions_wb", "write-behind"}})
    namespaces += std::string("[[namespace]]\nprefix = \"") + prefix + "\"\ntable = \"" + table +
                  "\"\nkey_column = \"session_id\"\nvalue_column = \"data\"\nvalue_type = "
                  "\"jsonb\"\ntouch_columns = [\"updated_at\"]\nmode = \"" + mode + "\"\n";
  auto cfg = wtcache::parse_config_text(namespaces, "bench");
  cfg.listen_port = 0;
  cfg.http_port = 0;
  cfg.redis_url = redis.url();
  cfg.postgres_url = postgres.url();
  caf::actor_system_config sys_cfg;
  wtcache::configure_actor_system(sys_cfg);
  wtcache::use_sharing_scheduler(sys_cfg);
  int status = 0;
  {
    caf::actor_system sys{sys_cfg};
    auto svc = wtcache::service::start(sys, cfg);

    std::vector<mode_result> modes(2);
    modes[0].name = "write-through";
    modes[0].prefix = "wt:";
    modes[0].table = "bench_sessions_wt";
    modes[1].name = "write-behind";
    modes[1].prefix = "wb:";
    modes[1].table = "bench_sessions_wb";
    for (auto& m : modes) {
      std::fprintf(stderr, "%s: %d clients for %.1f s ...\n", m.name.c_str(), o.clients,
                   o.seconds);
      run_mode(m, o, svc->port());
      if (m.name == "write-behind") {
        m.drain_s = wait_for_drain(m, redis.port());
        m.row_writes = svc->metrics().write_behind[0]->rows.load();
      } else {
        m.row_writes = m.acked;  // one row write per acknowledged SET
      }
      verify(m, o, postgres.url(), redis.port());
    }

    std::printf("\nwtcache: write-through vs write-behind, %d clients, %.1f s per mode, %d keys, "
                "JSON session values (%zu bytes)\n",
                o.clients, o.seconds, o.keys, session_value(1, 1).size());
    std::printf("embedded Redis (AOF everysec) and PostgreSQL (fsync on), service in-process\n\n");
    std::printf("%-14s %10s %9s %9s %9s %10s %7s %11s %9s\n", "mode", "writes/s", "p50 ms",
                "p99 ms", "max ms", "acked", "errors", "row writes", "drain s");
    for (auto& m : modes) {
      char drain[32] = "-";
      if (m.name == "write-behind")
        std::snprintf(drain, sizeof drain, "%.2f", m.drain_s);
      std::printf("%-14s %10.0f %9.2f %9.2f %9.2f %10llu %7llu %11llu %9s\n", m.name.c_str(),
                  m.writes_per_s, m.p50_ms, m.p99_ms, m.max_ms,
                  static_cast<unsigned long long>(m.acked),
                  static_cast<unsigned long long>(m.errors),
                  static_cast<unsigned long long>(m.row_writes), drain);
    }
    if (modes[0].writes_per_s > 0)
      std::printf("\nwrite-behind acknowledges %.1fx the writes/s of write-through, at %.1fx lower "
                  "p50 latency\n",
                  modes[1].writes_per_s / modes[0].writes_per_s,
                  modes[1].p50_ms > 0 ? modes[0].p50_ms / modes[1].p50_ms : 0.0);

    std::printf("\nverification, after the write-behind queue drained:\n");
    std::printf("%-14s %8s %18s %12s %13s %11s\n", "mode", "keys", "row = last acked",
                "cache = row", "not cached", "mismatches");
    for (auto& m : modes) {
      std::printf("%-14s %8llu %18llu %12llu %13llu %11llu\n", m.name.c_str(),
                  static_cast<unsigned long long>(m.keys),
                  static_cast<unsigned long long>(m.db_equal),
                  static_cast<unsigned long long>(m.cache_equal),
                  static_cast<unsigned long long>(m.cache_absent),
                  static_cast<unsigned long long>(m.mismatches));
      if (m.mismatches > 0 || m.keys == 0 || m.db_equal != m.keys)
        status = 1;
    }
    std::printf("%s\n", status == 0 ? "PASS: every row equals the last acknowledged write, and "
                                      "every cached entry equals its row"
                                    : "FAIL: see the mismatches above");
    svc->stop();
  }
  redis.stop();
  postgres.stop();
  std::filesystem::remove_all(dir);
  return status;
}
