// wtcache_bench: wtcached against the code it replaces, and against the
// limits of what it runs on.
//
// Starts `wtcached` (the binary next to this one) on its embedded default:
// private Redis (AOF everysec) and PostgreSQL (fsync on) under a temporary
// data directory. Then, for each client count, in one run:
//   - naive write-through: the seeds' code path, as applications hand-write
//     it: each client with its own PostgreSQL and Redis connection, an
//     autocommit upsert into the same table, then SETEX;
//   - naive read-through: GET; on a miss, SELECT and SETEX;
//   - write-through SET through the service: acknowledged writes/s, p50, p99;
//     and the same with ack = "after-commit" (a namespace over the default
//     table, acknowledged once committed);
//   - the database alone: the same single-row upsert the service runs, one
//     transaction each, straight to the same PostgreSQL (libpq) -- the
//     per-commit baseline;
//   - SET straight to the same Redis -- with the upsert, the latency floor of
//     a write-through write;
//   - cache-hit GET through the service, and GET straight to the same Redis
//     -- the cost of the hop;
//   - PostgreSQL's batched ceiling: 100-row upsert transactions, in rows/s;
//   - the service's peak RSS (VmHWM of the wtcached process).
// Also write-behind SET through the service (a namespace over the demo's
// shopping_carts table), unless --config names a configuration of your own.
// Prints a table and the target ratios, writes every row to a CSV
// file (--out) so that runs can be compared, and a self-contained HTML
// report with charts drawn by gnuplot (--report) to open in a browser.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <hiredis/hiredis.h>
#include <libpq-fe.h>

#include "app/embedded_servers.hpp"
#include "bench/bench_util.hpp"
#include "bench/report.hpp"
#include "core/latency.hpp"

using namespace std::chrono;
namespace fs = std::filesystem;

namespace {

struct options {
  std::vector<int> clients = {1, 16, 50, 64};
  double seconds = 3;
  int keys = 1000;
  int value_size = 100;
  std::string out = "wtcache-bench.csv";
  std::string report = "wtcache-bench.html";
  std::string wtcached;  // default: next to this binary
  std::string config;    // passed to wtcached as --config, if given
  int shards = 0;        // [server] shards of the generated configuration (0: its default)
};

using result = wtcache::bench::phase_result;

// A small file of /proc, "" if it cannot be read: a process may end while
// it is read (ESRCH), which std::ifstream reports by throwing.
std::string read_proc(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return {};
  std::string out;
  char buf[4096];
  ssize_t n;
  while ((n = ::read(fd, buf, sizeof buf)) > 0)
    out.append(buf, static_cast<std::size_t>(n));
  ::close(fd);
  return n < 0 ? std::string() : out;
}

// A process's /proc/<pid>/stat fields after the command name (which may
// hold spaces): fields[0] is field 3 (state), fields[i] is field i + 3.
std::vector<std::string> stat_fields(pid_t pid) {
  auto stat = read_proc("/proc/" + std::to_string(pid) + "/stat");
  std::vector<std::string> fields;
  auto close = stat.rfind(')');
  if (close == std::string::npos)
    return fields;
  std::istringstream rest(stat.substr(close + 2));
  for (std::string f; rest >> f;)
    fields.push_back(f);
  return fields;
}

// Clock ticks (as /proc counts CPU time) in microseconds.
double ticks_us(unsigned long long ticks) {
  return static_cast<double>(ticks) * 1e6 / static_cast<double>(::sysconf(_SC_CLK_TCK));
}
double ticks_us(const std::string& ticks) { return ticks_us(std::stoull(ticks)); }

// CPU time (user + system) a process has used so far, in microseconds;
// with `reaped`, that of its children it has waited for as well.
double cpu_us(pid_t pid, bool reaped = false) {
  auto f = stat_fields(pid);
  if (f.size() < 15)
    return 0;
  double us = ticks_us(f[11]) + ticks_us(f[12]);  // utime, stime
  if (reaped)
    us += ticks_us(f[13]) + ticks_us(f[14]);  // cutime, cstime
  return us;
}

// Where the machine's CPU time went, in microseconds so far: the service,
// its Redis, its PostgreSQL (the postmaster, its live backends, and the
// backends that have ended, which the postmaster has reaped), this load
// generator (every client thread), and the machine as a whole (busy and
// all, over every core, from /proc/stat).
struct cpu_sample {
  double service = 0, redis = 0, postgres = 0, load = 0, busy = 0, all = 0;
};

cpu_sample sample_cpu(pid_t service) {
  cpu_sample s;
  s.service = cpu_us(service);
  s.load = cpu_us(::getpid());
  // The embedded servers are the service's children; the backends are the
  // postmaster's.
  struct process {
    pid_t pid, parent;
    std::string comm;
  };
  std::vector<process> processes;
  for (auto& entry : fs::directory_iterator("/proc")) {
    auto name = entry.path().filename().string();
    if (name.empty() || !std::all_of(name.begin(), name.end(), ::isdigit))
      continue;
    auto pid = static_cast<pid_t>(std::stoi(name));
    auto f = stat_fields(pid);
    if (f.size() < 15)
      continue;
    auto comm = read_proc("/proc/" + name + "/comm");
    processes.push_back({pid, static_cast<pid_t>(std::stoi(f[1])), comm.substr(0, comm.find('\n'))});
  }
  for (auto& p : processes) {
    if (p.parent != service)
      continue;
    if (p.comm == "redis-server") {
      s.redis += cpu_us(p.pid, true);
    } else if (p.comm == "postgres") {
      s.postgres += cpu_us(p.pid, true);
      for (auto& backend : processes)
        if (backend.parent == p.pid)
          s.postgres += cpu_us(backend.pid);
    }
  }
  std::istringstream stat(read_proc("/proc/stat"));
  std::string cpu;
  stat >> cpu;  // "cpu": the sum over cores
  unsigned long long v[8] = {};
  for (auto& x : v)
    stat >> x;
  // user nice system idle iowait irq softirq steal
  s.busy = ticks_us(v[0] + v[1] + v[2] + v[5] + v[6] + v[7]);
  s.all = s.busy + ticks_us(v[3] + v[4]);
  return s;
}

// Runs `clients` threads; each opens its connection with `open`, then calls
// `op(connection, i)` (false: an error reply) until the time is up. The
// connections close only once the CPU times are read, so that a backend's
// CPU is counted before it ends. `service` is sampled in every phase, so
// that a direct phase shows what the service spends idle.
template <class Conn>
result run_phase(const std::string& phase, int clients, double seconds,
                 const std::function<Conn*()>& open, const std::function<bool(Conn*, uint64_t)>& op,
                 const std::function<void(Conn*)>& close, pid_t service) {
  wtcache::latency_histogram hist;
  std::atomic<uint64_t> errors{0};
  std::atomic<int> ready{0};
  std::atomic<bool> go{false};
  std::vector<std::thread> threads;
  std::vector<Conn*> conns(static_cast<std::size_t>(clients), nullptr);
  steady_clock::time_point deadline;
  for (int t = 0; t < clients; ++t)
    threads.emplace_back([&, t] {
      auto* c = open();
      conns[static_cast<std::size_t>(t)] = c;
      uint64_t i = static_cast<uint64_t>(t) * 7919;
      ++ready;
      while (!go.load())
        std::this_thread::yield();
      while (steady_clock::now() < deadline) {
        auto start = steady_clock::now();
        if (!op(c, i++))
          errors.fetch_add(1);
        hist.record(duration_cast<microseconds>(steady_clock::now() - start));
      }
    });
  while (ready.load() < clients)
    std::this_thread::yield();
  auto before = sample_cpu(service);
  auto start = steady_clock::now();
  deadline = start + duration_cast<steady_clock::duration>(duration<double>(seconds));
  go = true;
  for (auto& t : threads)
    t.join();
  double elapsed = duration<double>(steady_clock::now() - start).count();
  auto after = sample_cpu(service);
  for (auto* c : conns)
    close(c);
  result r;
  if (hist.count() > 0) {
    auto per_op = [&](double a, double b) { return (a - b) / static_cast<double>(hist.count()); };
    r.cpu_us_per_op = per_op(after.service, before.service);
    r.redis_us_per_op = per_op(after.redis, before.redis);
    r.postgres_us_per_op = per_op(after.postgres, before.postgres);
    r.load_us_per_op = per_op(after.load, before.load);
    r.machine_us_per_op = per_op(after.busy, before.busy);
  }
  if (after.all > before.all)
    r.machine_busy_pct = 100 * (after.busy - before.busy) / (after.all - before.all);
  r.phase = phase;
  r.clients = clients;
  r.ops = hist.count();
  r.errors = errors.load();
  r.ops_per_s = static_cast<double>(r.ops) / elapsed;
  r.p50_ms = static_cast<double>(hist.percentile(0.5).count()) / 1000.0;
  r.p99_ms = static_cast<double>(hist.percentile(0.99).count()) / 1000.0;
  return r;
}

bool command_ok(redisContext* c, std::initializer_list<std::string> args) {
  std::vector<const char*> argv;
  std::vector<size_t> lens;
  for (auto& a : args) {
    argv.push_back(a.data());
    lens.push_back(a.size());
  }
  auto* r = static_cast<redisReply*>(
    redisCommandArgv(c, static_cast<int>(argv.size()), argv.data(), lens.data()));
  bool ok = r && r->type != REDIS_REPLY_ERROR && r->type != REDIS_REPLY_NIL;
  if (r)
    freeReplyObject(r);
  return ok;
}

// The upsert wtcached runs for the default namespace (core/namespaces.cpp,
// build_sql), one transaction per call.
const char* const upsert_sql =
  "INSERT INTO wtcache_kv (key, value, version, updated_at) "
  "VALUES ($1, $2::bytea, nextval('wtcache_version'), now()) "
  "ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value, version = EXCLUDED.version, "
  "updated_at = EXCLUDED.updated_at";

// The seeds' write: an autocommit upsert of the value alone (their tables
// have no version; ours needs one, so it is a constant here).
const char* const naive_upsert_sql =
  "INSERT INTO wtcache_kv (key, value, version) VALUES ($1, $2::bytea, 0) "
  "ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value, updated_at = now()";
const char* const naive_select_sql = "SELECT value FROM wtcache_kv WHERE key = $1";
// 100 rows in one statement, one transaction: what PostgreSQL can commit
// when writes are batched (the ceiling for committed writes).
const char* const batch_upsert_sql =
  "INSERT INTO wtcache_kv (key, value, version, updated_at) "
  "SELECT k, $2::bytea, nextval('wtcache_version'), now() FROM unnest($1::text[]) AS k "
  "ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value, version = EXCLUDED.version, "
  "updated_at = EXCLUDED.updated_at";
constexpr int batch_rows = 100;

void prepare(PGconn* c, const char* name, const char* sql, int params) {
  auto* p = PQprepare(c, name, sql, params, nullptr);
  if (PQresultStatus(p) != PGRES_COMMAND_OK) {
    std::fprintf(stderr, "cannot prepare %s: %s", name, PQerrorMessage(c));
    std::exit(1);
  }
  PQclear(p);
}

PGconn* open_postgres(const std::string& url) {
  auto* c = PQconnectdb(url.c_str());
  if (PQstatus(c) != CONNECTION_OK) {
    std::fprintf(stderr, "cannot connect to PostgreSQL: %s", PQerrorMessage(c));
    std::exit(1);
  }
  prepare(c, "upsert", upsert_sql, 2);
  prepare(c, "naive_upsert", naive_upsert_sql, 2);
  prepare(c, "naive_select", naive_select_sql, 1);
  prepare(c, "batch_upsert", batch_upsert_sql, 2);
  return c;
}

// A client of the naive code: its own connection to each.
struct naive_client {
  PGconn* db;
  redisContext* cache;
};

uint64_t peak_rss_kib(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("VmHWM:", 0) == 0)
      return std::stoull(line.substr(6));
  return 0;
}

std::string slurp(const std::string& path) {
  std::ifstream in(path);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// The value after `label` on its line of wtcached's start-up banner.
std::string banner_field(const std::string& log, const std::string& label) {
  // A banner line is "  label value"; log lines may mention the label too.
  auto at = log.find("\n  " + label);
  if (at == std::string::npos)
    return {};
  at += 3;
  at += label.size();
  while (at < log.size() && log[at] == ' ')
    ++at;
  return log.substr(at, log.find('\n', at) - at);
}

std::vector<int> parse_list(const std::string& v) {
  std::vector<int> out;
  std::stringstream ss(v);
  std::string item;
  while (std::getline(ss, item, ','))
    out.push_back(std::stoi(item));
  return out;
}

// "2 cores, 24.0 GiB, Linux 6.1.0-...", from /proc and uname.
std::string machine_summary() {
  std::ifstream meminfo("/proc/meminfo");
  std::string key;
  long long kib = 0;
  while (meminfo >> key >> kib)
    if (key == "MemTotal:")
      break;
  std::ifstream release("/proc/sys/kernel/osrelease");
  std::string kernel;
  std::getline(release, kernel);
  char buf[256];
  std::snprintf(buf, sizeof buf, "machine: %u cores, %.1f GiB, Linux %s",
                std::thread::hardware_concurrency(), static_cast<double>(kib) / 1048576.0,
                kernel.c_str());
  return buf;
}

const result* find(const std::vector<result>& rs, const std::string& phase, int clients) {
  for (auto& r : rs)
    if (r.phase == phase && r.clients == clients)
      return &r;
  return nullptr;
}

constexpr const char* usage =
  "usage: wtcache_bench [--clients 1,16,50,64] [--seconds S] [--keys K] [--value-size B]\n"
  "                     [--out FILE.csv] [--report FILE.html] [--wtcached PATH]\n"
  "                     [--config wtcached.toml | --shards N]\n";

}  // namespace

int main(int argc, char** argv) {
  options o;
  wtcache::bench::parse_flags(argc, argv, usage, [&](const std::string& f, const std::string& v) {
    if (f == "--clients") o.clients = parse_list(v);
    else if (f == "--seconds") o.seconds = std::stod(v);
    else if (f == "--keys") o.keys = std::stoi(v);
    else if (f == "--value-size") o.value_size = std::stoi(v);
    else if (f == "--out") o.out = v;
    else if (f == "--report") o.report = v;
    else if (f == "--wtcached") o.wtcached = v;
    else if (f == "--config") o.config = v;
    else if (f == "--shards") o.shards = std::stoi(v);
    else return false;
    return true;
  });
  if (o.wtcached.empty())
    o.wtcached = (fs::read_symlink("/proc/self/exe").parent_path() / "wtcached").string();

  char tmpl[] = "/tmp/wtcache-bench-XXXXXX";
  std::string dir = ::mkdtemp(tmpl);
  ::chmod(dir.c_str(), 0755);
  auto port = wtcache::free_loopback_port();
  auto log = dir + "/wtcached.log";
  std::fprintf(stderr, "starting %s on its embedded default under %s ...\n", o.wtcached.c_str(),
               dir.c_str());
  wtcache::child_process service;
  std::vector<std::string> args = {o.wtcached, "--data-dir", dir + "/var", "--listen",
                                   "127.0.0.1:" + std::to_string(port), "--http-listen",
                                   "127.0.0.1:0"};
  // Without a configuration of the user's, one write-behind namespace over
  // the demo's shopping_carts table (the embedded PostgreSQL has it), for
  // the write-behind phase; the default namespace is as it always is.
  bool write_behind = o.config.empty();
  auto config = o.config.empty() ? dir + "/bench.toml" : fs::absolute(o.config).string();
  if (write_behind && o.shards > 0)
    std::ofstream(config) << "[server]\nshards = " << o.shards << "\n";
  if (write_behind)
    std::ofstream(config, std::ios::app) << "[[namespace]]\nprefix = \"wb:\"\ntable = \"shopping_carts\"\n"
                             "key_column = \"cart_id\"\nvalue_column = \"items\"\n"
                             "value_type = \"jsonb\"\nmode = \"write-behind\"\n"
                             // The default namespace's table and statements again, but
                             // acknowledged once committed.
                             "[[namespace]]\nprefix = \"ac:\"\ntable = \"wtcache_kv\"\n"
                             "key_column = \"key\"\nvalue_column = \"value\"\n"
                             "value_type = \"bytea\"\nexpiry = \"value\"\n"
                             "touch_columns = [\"updated_at\"]\nack = \"after-commit\"\n";
  args.push_back("--config");
  args.push_back(config);
  service.start(args, log, {}, SIGTERM);
  auto started = steady_clock::now();
  while (slurp(log).find("try it") == std::string::npos) {
    if (!service.running() || steady_clock::now() - started > seconds(120)) {
      std::fprintf(stderr, "wtcached did not start:\n%s\n", slurp(log).c_str());
      return 1;
    }
    std::this_thread::sleep_for(milliseconds(50));
  }
  auto banner = slurp(log);
  auto redis_url = banner_field(banner, "redis:");        // redis://127.0.0.1:PORT
  // "postgresql://... (embedded)": the URL is the first word.
  auto postgres_url = banner_field(banner, "postgres:");
  postgres_url = postgres_url.substr(0, postgres_url.find(' '));
  auto redis_port = static_cast<uint16_t>(std::stoi(redis_url.substr(redis_url.rfind(':') + 1)));

  std::string value(static_cast<std::size_t>(o.value_size), 'v');
  auto key_of = [&](const char* prefix, uint64_t i) {
    return prefix + std::to_string(i % static_cast<uint64_t>(o.keys));
  };
  using redis_fn = std::function<bool(redisContext*, uint64_t)>;
  std::function<redisContext*()> to_service = [&] { return wtcache::bench::connect("127.0.0.1", port); };
  std::function<redisContext*()> to_redis = [&] {
    return wtcache::bench::connect("127.0.0.1", redis_port);
  };
  std::function<void(redisContext*)> close_redis = [](redisContext* c) { redisFree(c); };
  std::function<PGconn*()> to_postgres = [&] { return open_postgres(postgres_url); };
  std::function<void(PGconn*)> close_postgres = [](PGconn* c) { PQfinish(c); };

  redis_fn service_set = [&](redisContext* c, uint64_t i) {
    return command_ok(c, {"SET", key_of("bench:", i), value});
  };
  // The same size of value, as the JSON the write-behind namespace takes.
  std::string json_value = "{\"v\":\"" +
                           std::string(static_cast<std::size_t>(std::max(1, o.value_size - 8)), 'v') +
                           "\"}";
  redis_fn service_set_after_commit = [&](redisContext* c, uint64_t i) {
    return command_ok(c, {"SET", key_of("ac:bench:", i), value});
  };
  redis_fn service_set_behind = [&](redisContext* c, uint64_t i) {
    return command_ok(c, {"SET", key_of("wb:", i), json_value});
  };
  redis_fn service_get = [&](redisContext* c, uint64_t i) {
    return command_ok(c, {"GET", key_of("bench:", i)});
  };
  redis_fn redis_set = [&](redisContext* c, uint64_t i) {
    return command_ok(c, {"SET", key_of("direct:", i), value});
  };
  redis_fn redis_get = [&](redisContext* c, uint64_t i) {
    return command_ok(c, {"GET", key_of("direct:", i)});
  };
  // A prepared statement of (key, value as bytea), one autocommit call.
  auto exec_key_value = [&](PGconn* c, const char* statement, const std::string& k,
                            const std::string& v) {
    const char* params[] = {k.c_str(), v.c_str()};
    int lens[] = {static_cast<int>(k.size()), static_cast<int>(v.size())};
    int formats[] = {0, 1};
    auto* r = PQexecPrepared(c, statement, 2, params, lens, formats, 0);
    bool ok = PQresultStatus(r) == PGRES_COMMAND_OK;
    PQclear(r);
    return ok;
  };
  std::function<bool(PGconn*, uint64_t)> upsert = [&](PGconn* c, uint64_t i) {
    return exec_key_value(c, "upsert", key_of("direct:", i), value);
  };

  // The naive code: upsert, then SETEX (write); GET, else SELECT and SETEX (read).
  std::function<naive_client*()> to_both = [&] {
    return new naive_client{to_postgres(), to_redis()};
  };
  std::function<void(naive_client*)> close_both = [](naive_client* n) {
    PQfinish(n->db);
    redisFree(n->cache);
    delete n;
  };
  const std::string naive_ttl = "3600";
  std::function<bool(naive_client*, uint64_t)> naive_write = [&](naive_client* n, uint64_t i) {
    auto k = key_of("naive:", i);
    return exec_key_value(n->db, "naive_upsert", k, value) &&
           command_ok(n->cache, {"SETEX", k, naive_ttl, value});
  };
  std::function<bool(naive_client*, uint64_t)> naive_read = [&](naive_client* n, uint64_t i) {
    auto k = key_of("naive:", i);
    if (command_ok(n->cache, {"GET", k}))
      return true;
    const char* params[] = {k.c_str()};
    auto* r = PQexecPrepared(n->db, "naive_select", 1, params, nullptr, nullptr, 1);
    bool ok = PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1;
    std::string v = ok ? std::string(PQgetvalue(r, 0, 0), PQgetlength(r, 0, 0)) : std::string();
    PQclear(r);
    return ok && command_ok(n->cache, {"SETEX", k, naive_ttl, v});
  };
  std::function<bool(PGconn*, uint64_t)> batch_upsert = [&](PGconn* c, uint64_t i) {
    // Each client over keys of its own (run_phase starts client t at op
    // t * 7919), so that batches measure commits, not lock waits.
    std::string keys = "{";
    auto own = "batch:" + std::to_string(i / 7919) + ":";
    for (int j = 0; j < batch_rows; ++j)
      keys += (j ? "," : "") + own + std::to_string((i * batch_rows + j) % o.keys);
    keys += "}";
    return exec_key_value(c, "batch_upsert", keys, value);
  };

  // Every key exists in both places before anything is timed, so that the
  // GETs are hits and the upserts updates.
  {
    auto* s = to_service();
    auto* r = to_redis();
    for (int i = 0; i < o.keys; ++i) {
      service_set(s, static_cast<uint64_t>(i));
      redis_set(r, static_cast<uint64_t>(i));
    }
    redisFree(s);
    redisFree(r);
    auto* pg = to_postgres();
    for (int i = 0; i < o.keys; ++i)
      upsert(pg, static_cast<uint64_t>(i));
    PQfinish(pg);
    auto* n = to_both();
    for (int i = 0; i < o.keys; ++i)
      naive_write(n, static_cast<uint64_t>(i));
    close_both(n);
  }

  std::vector<result> results;
  auto pid = service.pid();
  for (int n : o.clients) {
    std::fprintf(stderr, "%d client(s) ...\n", n);
    results.push_back(run_phase("naive write-through", n, o.seconds, to_both, naive_write,
                                close_both, pid));
    results.push_back(run_phase("naive read-through", n, o.seconds, to_both, naive_read,
                                close_both, pid));
    results.push_back(run_phase("service SET", n, o.seconds, to_service, service_set, close_redis, pid));
    if (write_behind) {
      results.push_back(run_phase("service SET after-commit", n, o.seconds, to_service,
                                  service_set_after_commit, close_redis, pid));
      results.push_back(run_phase("service SET write-behind", n, o.seconds, to_service,
                                  service_set_behind, close_redis, pid));
    }
    results.push_back(run_phase("postgres upsert", n, o.seconds, to_postgres, upsert, close_postgres, pid));
    results.push_back(run_phase("redis SET", n, o.seconds, to_redis, redis_set, close_redis, pid));
    results.push_back(run_phase("service GET", n, o.seconds, to_service, service_get, close_redis, pid));
    results.push_back(run_phase("redis GET", n, o.seconds, to_redis, redis_get, close_redis, pid));
    // Counted in rows: each op is one transaction of batch_rows rows.
    auto batch = run_phase("postgres 100-row upserts", n, o.seconds, to_postgres, batch_upsert,
                           close_postgres, pid);
    batch.ops_per_s *= batch_rows;
    for (auto* us : {&batch.cpu_us_per_op, &batch.redis_us_per_op, &batch.postgres_us_per_op,
                     &batch.load_us_per_op, &batch.machine_us_per_op})
      *us /= batch_rows;
    results.push_back(batch);
  }
  auto rss_mib = static_cast<double>(peak_rss_kib(service.pid())) / 1024.0;
  int status = service.stop(SIGTERM);

  std::printf("\nwtcache bench: %.1f s per phase, %d keys, %d-byte values, wtcached on its embedded "
              "default (Redis AOF everysec, PostgreSQL fsync on), %u cores\n\n",
              o.seconds, o.keys, o.value_size, std::thread::hardware_concurrency());
  std::printf("%-26s %8s %12s %10s %10s %10s %8s %12s\n", "phase", "clients", "ops/s", "p50 ms",
              "p99 ms", "ops", "errors", "cpu us/op");
  for (auto& r : results) {
    std::printf("%-26s %8d %12.0f %10.3f %10.3f %10llu %8llu", r.phase.c_str(), r.clients,
                r.ops_per_s, r.p50_ms, r.p99_ms, static_cast<unsigned long long>(r.ops),
                static_cast<unsigned long long>(r.errors));
    if (r.cpu_us_per_op >= 0)
      std::printf(" %12.1f", r.cpu_us_per_op);
    std::printf("\n");
  }
  std::printf("(cpu us/op: wtcached's CPU time, user + system, per operation)\n");
  // Where each op's CPU went, machine-wide: what bounds a phase on a small
  // machine, where the load generator, Redis, PostgreSQL and wtcached share
  // the cores.
  std::printf("\nCPU us per op (user + system; per row for the 100-row upserts), and how busy "
              "the machine was\n");
  std::printf("%-26s %8s %10s %10s %10s %10s %10s %8s\n", "phase", "clients", "wtcached",
              "redis", "postgres", "load gen", "machine", "busy %");
  for (auto& r : results)
    std::printf("%-26s %8d %10.1f %10.1f %10.1f %10.1f %10.1f %8.0f\n", r.phase.c_str(),
                r.clients, r.cpu_us_per_op, r.redis_us_per_op, r.postgres_us_per_op,
                r.load_us_per_op, r.machine_us_per_op, r.machine_busy_pct);
  std::printf("(machine: every process, from /proc/stat; busy: of all cores over the phase)\n");
  std::printf("\nwtcached peak RSS: %.1f MiB\n\n", rss_mib);

  // The targets, as ratios measured in this run (printed, and in the report).
  std::vector<std::string> notes;
  auto note = [&](const char* fmt, auto... args) {
    char buf[512];
    std::snprintf(buf, sizeof buf, fmt, args...);
    std::printf("%s\n", buf);
    notes.push_back(buf);
  };
  auto verdict = [](bool ok) { return ok ? "met" : "MISSED"; };
  // Against the code it replaces (issue 17), in this run.
  if (auto *s = find(results, "service SET", 1), *n = find(results, "naive write-through", 1); s && n)
    note("write-through SET p50 at 1 client: %.3f ms = %.2fx naive write-through p50 %.3f ms "
         "(target <= 1.2x): %s",
         s->p50_ms, s->p50_ms / n->p50_ms, n->p50_ms, verdict(s->p50_ms <= 1.2 * n->p50_ms));
  if (auto *s = find(results, "service SET after-commit", 1),
      *n = find(results, "naive write-through", 1); s && n)
    note("write-through SET p50 at 1 client with ack = \"after-commit\": %.3f ms = %.2fx naive "
         "(target <= 1.0x): %s",
         s->p50_ms, s->p50_ms / n->p50_ms, verdict(s->p50_ms <= n->p50_ms));
  if (auto *s = find(results, "service SET", 16), *n = find(results, "naive write-through", 16); s && n)
    note("write-through SET at 16 clients: %.2fx naive write-through ops/s (target >= 2x): %s",
         s->ops_per_s / n->ops_per_s, verdict(s->ops_per_s >= 2 * n->ops_per_s));
  double ceiling = 0;  // PostgreSQL's batched rows/s, the best over the client counts
  for (auto& r : results)
    if (r.phase == "postgres 100-row upserts")
      ceiling = std::max(ceiling, r.ops_per_s);
  if (auto *s = find(results, "service SET", 64), *n = find(results, "naive write-through", 64); s && n)
    note("write-through SET at 64 clients: %.2fx naive write-through ops/s (target >= 4x) and "
         "%.1f%% of PostgreSQL's batched %.0f rows/s (target >= 25%%): %s",
         s->ops_per_s / n->ops_per_s, 100 * s->ops_per_s / ceiling, ceiling,
         verdict(s->ops_per_s >= 4 * n->ops_per_s && s->ops_per_s >= 0.25 * ceiling));
  if (auto *s = find(results, "service SET write-behind", 50), *r = find(results, "redis SET", 50); s && r)
    note("write-behind SET at 50 clients: %.2fx direct Redis SET/s (target >= 0.5x): %s",
         s->ops_per_s / r->ops_per_s, verdict(s->ops_per_s >= 0.5 * r->ops_per_s));
  if (auto *s = find(results, "service GET", 50), *r = find(results, "redis GET", 50); s && r)
    note("cache-hit GET at 50 clients: %.2fx direct Redis GET/s (target >= 0.9x): %s",
         s->ops_per_s / r->ops_per_s, verdict(s->ops_per_s >= 0.9 * r->ops_per_s));
  note("peak RSS: %.1f MiB (target <= 64 MiB): %s", rss_mib, verdict(rss_mib <= 64));

  std::ofstream csv(o.out);
  csv << "phase,clients,ops_per_s,p50_ms,p99_ms,ops,errors,service_cpu_us_per_op,"
         "service_peak_rss_mib,redis_cpu_us_per_op,postgres_cpu_us_per_op,"
         "load_cpu_us_per_op,machine_cpu_us_per_op,machine_busy_pct\n";
  for (auto& r : results) {
    csv << r.phase << "," << r.clients << "," << r.ops_per_s << "," << r.p50_ms << ","
        << r.p99_ms << "," << r.ops << "," << r.errors << ",";
    if (r.cpu_us_per_op >= 0)
      csv << r.cpu_us_per_op;
    csv << "," << rss_mib;
    for (double v : {r.redis_us_per_op, r.postgres_us_per_op, r.load_us_per_op,
                     r.machine_us_per_op, r.machine_busy_pct}) {
      csv << ",";
      if (v >= 0)
        csv << v;
    }
    csv << "\n";
  }
  std::printf("\nresults written to %s\n", o.out.c_str());

  wtcache::bench::report_info info;
  char title[256];
  std::snprintf(title, sizeof title,
                "%.1f s per phase, %d keys, %d-byte values; wtcached on its embedded default "
                "(Redis AOF everysec, PostgreSQL fsync on)",
                o.seconds, o.keys, o.value_size);
  info.title = title;
  info.machine = machine_summary();
  info.notes = notes;
  std::string report_error;
  if (wtcache::bench::write_html_report(results, info, o.report, report_error))
    std::printf("report (open it in a browser): %s\n", fs::absolute(o.report).c_str());
  else
    std::fprintf(stderr, "no HTML report: %s\n", report_error.c_str());

  fs::remove_all(dir);
  return status == 0 ? 0 : 1;
}
