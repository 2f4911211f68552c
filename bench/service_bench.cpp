// wtcache_bench: drives wtcached over RESP with N concurrent clients.
//
// Measures, in one run:
//   1. write-through SET through the service: acknowledged writes/s, p50, p99
//   2. cache-hit GET through the service: reads/s, p50, p99
//   3. baseline: the same GET load sent straight to the Redis behind it, so the
//      service's cost shows as a ratio that a noisy shared machine cannot fake
//
// By default it starts its own Redis and PostgreSQL (fsync on, as the embedded
// default runs) and the service in-process; --target HOST:PORT measures an
// already running wtcached instead (then the Redis baseline needs --redis-port).
#include <sys/stat.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <hiredis/hiredis.h>

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>

#include "app/config.hpp"
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
  int value_size = 100;
  std::string target_host;
  uint16_t target_port = 0;
  uint16_t redis_port = 0;
  std::string scheduler = "sharing";
};

struct phase_result {
  std::string name;
  double ops_per_s = 0;
  double p50_ms = 0, p99_ms = 0;
  uint64_t ops = 0, errors = 0;
};

using wtcache::bench::connect;

// Runs `clients` threads issuing `op` (returns false on an error reply) until
// the time is up; each operation's latency goes into one histogram.
template <class Op>
phase_result run_phase(const std::string& name, const options& o, const std::string& host,
                       uint16_t port, Op op) {
  wtcache::latency_histogram hist;
  std::atomic<uint64_t> errors{0};
  std::atomic<bool> go{false};
  std::vector<std::thread> threads;
  auto deadline = steady_clock::now() + duration<double>(o.seconds) + milliseconds(100);
  for (int t = 0; t < o.clients; ++t)
    threads.emplace_back([&, t] {
      auto* c = connect(host, port);
      uint64_t i = static_cast<uint64_t>(t) * 7919;
      while (!go.load())
        std::this_thread::yield();
      while (steady_clock::now() < deadline) {
        auto start = steady_clock::now();
        if (!op(c, i++))
          errors.fetch_add(1);
        hist.record(duration_cast<microseconds>(steady_clock::now() - start));
      }
      redisFree(c);
    });
  auto start = steady_clock::now();
  go = true;
  for (auto& t : threads)
    t.join();
  double elapsed = duration<double>(steady_clock::now() - start).count();
  phase_result r;
  r.name = name;
  r.ops = hist.count();
  r.errors = errors.load();
  r.ops_per_s = static_cast<double>(r.ops) / elapsed;
  r.p50_ms = static_cast<double>(hist.percentile(0.5).count()) / 1000.0;
  r.p99_ms = static_cast<double>(hist.percentile(0.99).count()) / 1000.0;
  return r;
}

bool command_ok(redisContext* c, int argc, const char** argv, const size_t* lens) {
  auto* r = static_cast<redisReply*>(redisCommandArgv(c, argc, argv, lens));
  bool ok = r && r->type != REDIS_REPLY_ERROR && r->type != REDIS_REPLY_NIL;
  if (r)
    freeReplyObject(r);
  return ok;
}

constexpr const char* usage =
  "usage: wtcache_bench [--clients N] [--seconds S] [--keys K] [--value-size B]\n"
  "                     [--scheduler sharing|stealing] [--target HOST:PORT [--redis-port P]]\n";

}  // namespace

int main(int argc, char** argv) {
  options o;
  wtcache::bench::parse_flags(argc, argv, usage, [&](const std::string& f, const std::string& v) {
    if (f == "--clients") o.clients = std::stoi(v);
    else if (f == "--seconds") o.seconds = std::stod(v);
    else if (f == "--keys") o.keys = std::stoi(v);
    else if (f == "--value-size") o.value_size = std::stoi(v);
    else if (f == "--redis-port") o.redis_port = static_cast<uint16_t>(std::stoi(v));
    else if (f == "--scheduler") o.scheduler = v;
    else if (f == "--target") {
      auto colon = v.rfind(':');
      o.target_host = v.substr(0, colon);
      o.target_port = static_cast<uint16_t>(std::stoi(v.substr(colon + 1)));
    } else {
      return false;
    }
    return true;
  });

  std::unique_ptr<wtcache::embedded_redis> redis;
  std::unique_ptr<wtcache::embedded_postgres> postgres;
  std::unique_ptr<caf::actor_system_config> sys_cfg;
  std::unique_ptr<caf::actor_system> sys;
  std::unique_ptr<wtcache::service> svc;
  std::string dir;
  std::string host = o.target_host;
  uint16_t port = o.target_port;
  if (!port) {
    char tmpl[] = "/tmp/wtcache-bench-XXXXXX";
    dir = ::mkdtemp(tmpl);
    ::chmod(dir.c_str(), 0755);
    std::fprintf(stderr, "starting Redis and PostgreSQL in %s ...\n", dir.c_str());
    postgres = std::make_unique<wtcache::embedded_postgres>();
    postgres->start(dir + "/postgres", wtcache::demo_sql, true);
    redis = std::make_unique<wtcache::embedded_redis>();
    redis->start(dir + "/redis");
    wtcache::config cfg = wtcache::parse_config_text("", "defaults");
    cfg.listen_port = 0;
    cfg.redis_url = redis->url();
    cfg.postgres_url = postgres->url();
    sys_cfg = std::make_unique<caf::actor_system_config>();
    wtcache::configure_actor_system(*sys_cfg);
    if (o.scheduler == "sharing")
      wtcache::use_sharing_scheduler(*sys_cfg);  // what wtcached runs
    else
      sys_cfg->set("scheduler.policy", caf::atom("stealing"));
    sys = std::make_unique<caf::actor_system>(*sys_cfg);
    svc = wtcache::service::start(*sys, cfg);
    host = "127.0.0.1";
    port = svc->port();
    o.redis_port = redis->port();
  }

  std::string value(static_cast<std::size_t>(o.value_size), 'v');
  auto key_of = [&](uint64_t i) { return "bench:" + std::to_string(i % static_cast<uint64_t>(o.keys)); };

  std::vector<phase_result> results;
  results.push_back(run_phase("write-through SET", o, host, port, [&](redisContext* c, uint64_t i) {
    auto k = key_of(i);
    const char* args[] = {"SET", k.c_str(), value.c_str()};
    size_t lens[] = {3, k.size(), value.size()};
    return command_ok(c, 3, args, lens);
  }));
  auto get = [&](redisContext* c, uint64_t i) {
    auto k = key_of(i);
    const char* args[] = {"GET", k.c_str()};
    size_t lens[] = {3, k.size()};
    return command_ok(c, 2, args, lens);
  };
  // Every key was written above, so these are cache hits.
  results.push_back(run_phase("cache-hit GET", o, host, port, get));
  if (o.redis_port) {
    // The same reads against Redis itself (wtcached's entries are hashes).
    results.push_back(run_phase("baseline: Redis HGET", o, "127.0.0.1", o.redis_port,
                                [&](redisContext* c, uint64_t i) {
                                  auto k = "wtc:" + key_of(i);
                                  const char* args[] = {"HGET", k.c_str(), "d"};
                                  size_t lens[] = {4, k.size(), 1};
                                  return command_ok(c, 3, args, lens);
                                }));
  }

  std::printf("\nwtcache bench: %d clients, %.1f s per phase, %d keys, %d-byte values%s\n\n",
              o.clients, o.seconds, o.keys, o.value_size,
              svc ? (" (embedded Redis + PostgreSQL, fsync on; CAF scheduler: " + o.scheduler + ")").c_str()
                  : "");
  std::printf("%-22s %12s %10s %10s %10s %8s\n", "phase", "ops/s", "p50 ms", "p99 ms", "ops",
              "errors");
  for (auto& r : results)
    std::printf("%-22s %12.0f %10.3f %10.3f %10llu %8llu\n", r.name.c_str(), r.ops_per_s,
                r.p50_ms, r.p99_ms, static_cast<unsigned long long>(r.ops),
                static_cast<unsigned long long>(r.errors));
  if (results.size() == 3 && results[2].ops_per_s > 0)
    std::printf("\ncache-hit GET through wtcached runs at %.2fx the rate of Redis alone\n",
                results[1].ops_per_s / results[2].ops_per_s);

  if (svc)
    svc->stop();
  svc.reset();
  sys.reset();
  if (redis)
    redis->stop();
  if (postgres)
    postgres->stop();
  if (!dir.empty())
    std::filesystem::remove_all(dir);
  return 0;
}
