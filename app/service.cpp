// The service: starts the actors in order, checks the backends, stops them in order.
#include "app/service.hpp"
#include "app/service_testing.hpp"

#include <algorithm>

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/io/middleman.hpp>
#include <caf/scoped_actor.hpp>
#include <caf/send.hpp>

#include <hiredis/hiredis.h>
#include <spdlog/spdlog.h>

#include "actors/cache_api.hpp"
#include "actors/cache_reader.hpp"
#include "actors/connection.hpp"
#include "actors/http_endpoint.hpp"
#include "actors/listener.hpp"
#include "actors/reaper.hpp"
#include "backends/redis_connection.hpp"
#include "actors/supervisor.hpp"
#include "app/config.hpp"
#include "app/schema.hpp"
#include "messages/atoms.hpp"
#include "messages/errors.hpp"
#include "core/logger_ref.hpp"
#include "core/prometheus.hpp"
#include "core/resp.hpp"
#include "messages/registration.hpp"

namespace wtcache {

std::optional<std::string> eviction_problem(const std::string& policy,
                                            const std::vector<namespace_config>& spaces,
                                            const std::string& url) {
  if (policy.rfind("allkeys-", 0) != 0)
    return std::nullopt;
  for (auto& ns : spaces)
    if (ns.mode == write_mode::write_behind)
      return "maxmemory-policy is " + policy + " on " + redact_url(url) +
             ": Redis may evict keys without a TTL, and write-behind namespace \"" + ns.prefix +
             "\" keeps its queue and its values not yet in PostgreSQL in such keys. Set "
             "maxmemory-policy to volatile-lru (or another volatile-* policy, or noeviction), "
             "e.g. redis-cli CONFIG SET maxmemory-policy volatile-lru, or make the namespace "
             "write-through";
  return std::nullopt;
}

namespace {

// The entries a namespace's write-behind queue holds, over the streams of
// `groups` groups (-1: Redis did not answer).
int64_t queued_entries(redis_connection& probe, const key_layout& layout, const std::string& table,
                       std::size_t groups) {
  std::vector<std::vector<std::string>> asks;
  for (std::size_t g = 0; g < groups; ++g)
    asks.push_back({"HGET", layout.stats(table, g), "n"});
  auto replies = probe.pipeline(asks);
  if (!replies)
    return -1;
  int64_t n = 0;
  for (auto& r : *replies)
    if (r->type == REDIS_REPLY_STRING)
      n += std::atoll(r->str);
  return n;
}

// Fails early, with a message a person can act on, when Redis is not there:
// the connection a worker would make, made once on this thread. Write-behind
// keeps its queue and its not yet persisted values in keys without a TTL, so
// a Redis that may evict those is refused. Carries a data set of the layout
// before hash-tag groups over (or refuses to start while its queue holds
// entries). Returns Redis's clock in microseconds.
int64_t check_redis(const redis_endpoint& ep, const std::string& url,
                    const std::vector<namespace_config>& spaces, const key_layout& layout) {
  redis_connection probe(ep, std::chrono::seconds(2));
  if (auto err = probe.connect())
    throw config_error("redis", "cannot reach " + redact_url(url) + ": " + error_detail(err));
  auto text = [](const redis_reply& r, std::size_t i) {
    auto* e = r->type == REDIS_REPLY_ARRAY && i < r->elements ? r->element[i] : r.get();
    return e->type == REDIS_REPLY_STRING || e->type == REDIS_REPLY_STATUS
             ? std::string(e->str, e->len) : std::string();
  };
  auto must = [&](caf::expected<redis_reply> r, const std::string& what) {
    if (!r)
      throw std::runtime_error("redis: " + what + ": " + error_detail(r.error()));
    return std::move(*r);
  };
  // The layout before hash-tag groups kept a namespace's queue in streams
  // PREFIXwbq:TABLE:i and its counters in PREFIXwbq:TABLE:stats. What such a
  // queue still holds is not in PostgreSQL, and this version does not read
  // it: the previous version must drain it first. An empty one is removed.
  int64_t floor = 0;
  auto old_clock = must(probe.command({"GET", old_version_clock(layout.prefix)}), "GET");
  if (old_clock->type == REDIS_REPLY_STRING)
    floor = std::atoll(old_clock->str);
  for (auto& ns : spaces) {
    if (ns.table.empty())
      continue;
    auto stats = old_queue_stats(layout.prefix, ns.table);
    auto r = must(probe.command({"HGET", stats, "n"}), "HGET " + stats);
    auto n = std::atoll(text(r, 0).c_str());
    if (n > 0)
      throw config_error(
        "redis",
        "the write-behind queue of namespace \"" + ns.prefix + "\" (table " + ns.table +
          ") still holds " + std::to_string(n) +
          " entries not yet in PostgreSQL, kept in the key layout of wtcached before hash-tag "
          "groups (" + stats + "), which this version does not read. Start the previous "
          "wtcached on this Redis and stop it with SIGTERM (the stop drains the queue into "
          "PostgreSQL), then start this one");
    // Empty: its keys go (a namespace had at most 64 streams), one DEL
    // each (on a Redis Cluster, they are of different slots).
    std::vector<std::vector<std::string>> dels = {{"DEL", stats}};
    for (std::size_t i = 0; i < 64; ++i)
      dels.push_back({"DEL", old_queue_stream(layout.prefix, ns.table, i)});
    if (auto done = probe.pipeline(dels); !done)
      throw std::runtime_error("redis: DEL " + stats + ": " + error_detail(done.error()));
  }
  // What the layout was when wtcached last started here: the groups, and
  // each write-behind namespace's writers.
  auto meta = layout.meta();
  auto before = must(probe.command({"HGET", meta, "groups"}), "HGET " + meta);
  std::size_t groups_before = layout.groups;
  if (before->type == REDIS_REPLY_STRING)
    groups_before = static_cast<std::size_t>(std::atoll(before->str));
  if (!valid_group_count(groups_before))
    groups_before = layout.groups;
  // A namespace switched back to write-through would strand what its
  // write-behind queue still holds (and keep those values pinned).
  for (auto& ns : spaces) {
    if (ns.mode == write_mode::write_behind || ns.table.empty())
      continue;
    auto n = queued_entries(probe, layout, ns.table, groups_before);
    if (n > 0)
      throw config_error(
        "namespace \"" + ns.prefix + "\" mode",
        "is write-through, but its write-behind queue still holds " + std::to_string(n) +
          " entries not yet in PostgreSQL; run it as write-behind until the queue has drained "
          "(stopping wtcached with SIGTERM drains it), then switch");
  }
  for (auto& ns : spaces) {
    if (ns.mode != write_mode::write_behind)
      continue;
    // Every master's policy, on a Redis Cluster.
    for (auto& info : probe.on_masters({"INFO", "memory"})) {
      if (!info)
        throw std::runtime_error("redis: " + error_detail(info.error()));
      auto policy = resp::info_field(text(*info, 0), "maxmemory_policy");
      if (auto problem = eviction_problem(policy, spaces, url))
        throw config_error("redis", *problem);
    }
    break;
  }
  // A key's changes must stay in one stream, drained by one writer: the
  // groups and the writers may only change while the queue is empty.
  for (auto& ns : spaces) {
    if (ns.mode != write_mode::write_behind)
      continue;
    auto queued = queued_entries(probe, layout, ns.table, groups_before);
    if (queued < 0)
      throw std::runtime_error("redis: cannot read the write-behind queue of " + ns.table);
    if (queued > 0 && groups_before != layout.groups)
      throw config_error(
        "redis.groups",
        "is " + std::to_string(layout.groups) + ", but the write-behind queue of namespace \"" +
          ns.prefix + "\" still holds " + std::to_string(queued) + " entries in " +
          std::to_string(groups_before) + " groups; run with groups = " +
          std::to_string(groups_before) + " until it has drained, then change it");
    auto field = "writers:" + ns.table;
    auto writers = must(probe.command({"HGET", meta, field}), "HGET " + meta);
    auto had = writers->type == REDIS_REPLY_STRING ? std::string(writers->str, writers->len)
                                                   : std::string();
    if (queued > 0 && !had.empty() && had != std::to_string(ns.writers))
      throw config_error(
        "namespace \"" + ns.prefix + "\" writers",
        "is " + std::to_string(ns.writers) + ", but the queue still holds " +
          std::to_string(queued) + " entries drained by " + had +
          " writers; run with writers = " + had + " until it has drained, then change it");
    must(probe.command({"HSET", meta, field, std::to_string(ns.writers)}), "HSET " + meta);
  }
  must(probe.command({"HSET", meta, "groups", std::to_string(layout.groups)}), "HSET " + meta);
  auto now = probe.command({"TIME"});
  if (!now || (*now)->type != REDIS_REPLY_ARRAY)
    throw std::runtime_error("redis: TIME failed");
  floor = std::max<int64_t>(floor, std::stoll(text(*now, 0)) * 1000000 + std::stoll(text(*now, 1)));
  // Never below a version already handed out, should Redis's clock step
  // back: each group's clock is field c of its counters.
  std::vector<std::vector<std::string>> clocks;
  for (auto& ns : spaces)
    if (!ns.table.empty())
      for (std::size_t g = 0; g < std::max(groups_before, layout.groups); ++g)
        clocks.push_back({"HGET", layout.stats(ns.table, g), "c"});
  auto issued = probe.pipeline(clocks);
  if (!issued)
    throw std::runtime_error("redis: " + error_detail(issued.error()));
  for (auto& c : *issued)
    if (c->type == REDIS_REPLY_STRING)
      floor = std::max<int64_t>(floor, std::atoll(c->str));
  // Every write-behind group's clock starts at least there: a group new to
  // the layout (or a data set carried over from the one clock of the layout
  // before) must not issue versions below those already in PostgreSQL.
  // Raised, never lowered, in one step each: another node may be issuing
  // versions now.
  std::vector<std::vector<std::string>> raises;
  for (auto& ns : spaces)
    if (ns.mode == write_mode::write_behind)
      for (std::size_t g = 0; g < layout.groups; ++g)
        raises.push_back({"EVAL",
                          "local c = tonumber(redis.call('HGET', KEYS[1], 'c') or '0') or 0 "
                          "if c < tonumber(ARGV[1]) then redis.call('HSET', KEYS[1], 'c', ARGV[1]) end",
                          "1", layout.stats(ns.table, g), std::to_string(floor)});
  auto raised = probe.pipeline(raises);
  if (!raised)
    throw std::runtime_error("redis: " + error_detail(raised.error()));
  for (auto& r : *raised)
    if (r->type == REDIS_REPLY_ERROR)
      throw std::runtime_error("redis: raising the version clocks: " + reply_text(r.get()));
  // The earlier layout's one clock goes only now that every group's clock
  // stands above it: a start refused before here finds it again.
  must(probe.command({"DEL", old_version_clock(layout.prefix)}), "DEL");
  must(probe.command({"DEL", layout.prefix + "wbscratch"}), "DEL");
  return floor;
}

}  // namespace

config embedded_defaults() {
  config c;
  c.listen_enabled = false;
  c.http_enabled = false;
  c.namespaces = {default_namespace()};
  return c;
}

void configure_actor_system(caf::actor_system_config& cfg) {
  cfg.load<caf::io::middleman>();
  // One read per readiness event: a connection's read takes up to 64 KiB
  // at once, so a second read in a row finds nothing (EAGAIN) but costs a
  // system call per request; data left over is reported again by epoll.
  cfg.set("middleman.max-consecutive-reads", static_cast<size_t>(1));
  register_message_types(cfg);
}

void use_sharing_scheduler(caf::actor_system_config& cfg) {
  cfg.set("scheduler.policy", caf::atom("sharing"));
}

struct service::impl {
  caf::actor_system* sys = nullptr;
  cache_actor api;  // the typed API (actors/cache_api.hpp)
  caf::actor listener;
  caf::actor cache_reader;
  caf::actor http;
  std::vector<shard_actor> shards;
  caf::actor supervisor;
  caf::actor reaper;  // none unless a namespace has expiry = "value"
  std::shared_ptr<service_metrics> metrics;
  std::shared_ptr<node_health> health;
  logger_ref log;
  uint16_t port = 0;
  uint16_t http_port = 0;
  std::chrono::milliseconds shutdown_grace{10000};
  std::chrono::milliseconds request_timeout{5000};
  std::chrono::milliseconds stop_wait{5000};  // for the workers to exit

  std::shared_ptr<worker_directory> directory;

  void stop();
  void start_http(caf::scoped_actor& self, const config& cfg);
  // The port a listening broker got; a port it cannot have is a
  // configuration error of `field`.
  uint16_t bound_port(caf::scoped_actor& self, const caf::actor& broker, const char* field);
};

service::service() : impl_(std::make_unique<impl>()) {}
service::~service() { stop(); }
cache_actor service::cache() const { return impl_->api; }
uint16_t service::port() const { return impl_->port; }
uint16_t service::http_port() const { return impl_->http_port; }
const service_metrics& service::metrics() const { return *impl_->metrics; }

metrics_snapshot service::snapshot() const {
  const auto& m = *impl_->metrics;
  auto get = [](const auto& x) { return x.load(std::memory_order_relaxed); };
  metrics_snapshot s;
  s.commands = get(m.commands);
  s.cache_hits = get(m.hits);
  s.cache_misses = get(m.misses);
  s.db_reads = get(m.db_reads);
  s.writes = get(m.writes);
  s.write_errors = get(m.write_errors);
  s.db_transactions = get(m.db_transactions);
  s.connections_open = get(m.connections_open);
  s.worker_restarts = get(m.worker_restarts);
  s.expired_rows_deleted = get(m.expired_rows_deleted);
  for (auto& wb : m.write_behind) {
    s.write_behind_depth += std::max<int64_t>(0, wb->depth());
    s.write_behind_dead_letters += get(wb->dead_letters);
  }
  auto now = std::chrono::steady_clock::now();
  s.postgres_up = impl_->health->postgres.current(now) == circuit_breaker::state::closed;
  s.redis_up = impl_->health->redis.current(now) == circuit_breaker::state::closed;
  return s;
}

std::string service::prometheus_text() const {
  return wtcache::prometheus_text(*impl_->metrics, *impl_->health,
                                  std::chrono::steady_clock::now());
}
void service::stop() { impl_->stop(); }

std::unique_ptr<service> service::start(caf::actor_system& sys, const config& cfg) {
  return start_with_hooks(sys, cfg, shard_hooks{});
}

std::unique_ptr<service> start_with_hooks(caf::actor_system& sys, const config& cfg,
                                          const shard_hooks& hooks) {
  validate_config(cfg);
  auto redis = redis_endpoint_of(cfg);
  check_postgres_url(cfg.postgres_url, "postgres.url");
  auto postgres_url = with_application_name(
    with_connection_timeouts(cfg.postgres_url, cfg.postgres_timeout), "wtcached");
  prepare_schema(postgres_url, cfg.namespaces);
  {
    sigpipe_blocked on_this_thread;  // the host's thread drives hiredis here
    raise_version_floor(postgres_url,
                        check_redis(redis, cfg.redis_url, cfg.namespaces, cfg.redis_keys()));
  }

  std::unique_ptr<service> svc(new service);
  auto& s = *svc->impl_;
  s.sys = &sys;
  s.shutdown_grace = cfg.shutdown_grace;
  s.request_timeout = cfg.request_timeout;
  s.log = logger_of(cfg);
  s.metrics = std::make_shared<service_metrics>();
  s.metrics->postgres_pool_size = cfg.postgres_pool;
  s.metrics->redis_pool_size = cfg.redis_pool;
  s.metrics->redis_cluster = cfg.redis_cluster;
  {
    std::vector<std::string> tables;
    for (auto& ns : cfg.namespaces)
      tables.push_back(ns.table);
    s.metrics->set_namespaces(tables);
  }
  s.health = std::make_shared<node_health>();
  s.health->postgres.configure(cfg.breaker);
  s.health->redis.configure(cfg.breaker);
  auto spaces = std::make_shared<const namespace_table>(cfg.namespaces);
  auto directory = std::make_shared<worker_directory>();
  s.directory = directory;

  for (std::size_t i = 0; i < cfg.shards; ++i) {
    auto shard = shard_settings_from(cfg);
    shard.index = i;
    shard.spaces = spaces;
    shard.metrics = s.metrics;
    shard.health = s.health;
    shard.hooks = hooks;
    s.shards.push_back(sys.middleman().spawn_broker(shard_coordinator, std::move(shard)));
  }
  std::vector<caf::actor> peers;
  for (auto& shard : s.shards)
    peers.push_back(caf::actor_cast<caf::actor>(shard));
  for (auto& shard : s.shards)
    caf::anon_send(shard, atom::peers::value, peers);

  auto sup = supervisor_settings_from(cfg);
  sup.spaces = spaces;
  sup.shards = s.shards;
  sup.metrics = s.metrics;
  sup.health = s.health;
  sup.directory = directory;
  // One figure set per write-behind namespace, shared by its writers.
  for (auto& ns : cfg.namespaces)
    if (ns.mode == write_mode::write_behind) {
      auto m = std::make_shared<write_behind_metrics>(ns.table, ns.writers);
      s.metrics->write_behind.push_back(m);
      for (auto& w : sup.writers)
        if (w.ns.table == ns.table) {
          w.metrics = m;
          w.node_metrics = s.metrics;
        }
    }
  s.stop_wait = sup.stop_wait;
  s.supervisor = sys.spawn(supervisor, std::move(sup));
  // The cache reader reads hits over sockets of its own: one Redis's, or
  // one per master of a Redis Cluster.
  {
    auto reader = cache_reader_settings_from(cfg);
    reader.directory = directory;
    reader.metrics = s.metrics;
    s.cache_reader = sys.middleman().spawn_broker(cache_reader, std::move(reader));
  }

  // Accept no client before every shard knows its workers and has its first
  // dirty-key lease: the supervisor answers after both, and each shard reads
  // its mailbox in order.
  caf::scoped_actor self{sys};
  std::string start_error;
  self->request(s.supervisor, std::chrono::seconds(10), atom::get::value)
    .receive([](caf::ok_atom) {}, [&](caf::error& err) { start_error = sys.render(err); });
  for (auto& shard : s.shards)
    self->request(shard, std::chrono::seconds(10), atom::workers::value)
      .receive(
        [&](const std::vector<uint64_t>& n) {
          if (n.size() != 2 || n[0] == 0 || n[1] == 0)
            start_error = "a shard did not learn its workers";
        },
        [&](caf::error& err) { start_error = sys.render(err); });
  if (!start_error.empty()) {
    s.stop();
    throw std::runtime_error("cannot start the actors: " + start_error);
  }

  if (std::any_of(cfg.namespaces.begin(), cfg.namespaces.end(),
                  [](const namespace_config& ns) { return ns.expiry == expiry_mode::value; })) {
    auto r = reaper_settings_from(cfg);
    r.shards = s.shards;
    r.spaces = spaces;
    r.metrics = s.metrics;
    s.reaper = sys.spawn(reaper, std::move(r));
  }

  auto api = cache_api_settings_from(cfg);
  api.shards = s.shards;
  api.spaces = spaces;
  api.metrics = s.metrics;
  s.api = sys.spawn(cache_api, std::move(api));

  if (!cfg.listen_enabled) {
    if (cfg.http_enabled)
      s.start_http(self, cfg);
    return svc;
  }
  auto fe = std::make_shared<front_end>(front_end_from(cfg));
  fe->spaces = spaces;
  fe->metrics = s.metrics;
  fe->health = s.health;
  fe->shards = s.shards;
  fe->directory = directory;
  fe->started = std::chrono::steady_clock::now();
  s.listener = sys.middleman().spawn_broker(listener, cfg.listen_host, cfg.listen_port, fe);
  s.port = s.bound_port(self, s.listener, "server.listen");
  if (cfg.http_enabled)
    s.start_http(self, cfg);
  return svc;
}

void service::impl::start_http(caf::scoped_actor& self, const config& cfg) {
  auto settings = http_settings_from(cfg);
  settings.metrics = metrics;
  settings.health = health;
  settings.directory = directory;
  http = sys->middleman().spawn_broker(http_endpoint, std::move(settings));
  http_port = bound_port(self, http, "http.listen");
}

uint16_t service::impl::bound_port(caf::scoped_actor& self, const caf::actor& broker,
                                   const char* field) {
  uint16_t bound = 0;
  std::string bind_error;
  self->request(broker, std::chrono::seconds(10), atom::get::value)
    .receive([&](uint16_t p) { bound = p; },
             [&](caf::error& err) { bind_error = client_error_text(err); });
  if (!bind_error.empty()) {
    stop();
    if (bind_error.rfind("cannot listen", 0) == 0)
      throw config_error(field, bind_error);
    throw std::runtime_error(bind_error);
  }
  return bound;
}

void service::impl::stop() {
  if (!sys)
    return;
  // Dependency order: no new requests, then the coordinators, then the workers.
  caf::scoped_actor self{*sys};
  auto stop_and_wait = [&](const auto& a, std::chrono::milliseconds wait = std::chrono::seconds(10)) {
    if (!a)
      return;
    self->monitor(a);
    self->send_exit(a, caf::exit_reason::user_shutdown);
    // Only its own down message ends the wait (an earlier actor's may come late).
    auto until = std::chrono::steady_clock::now() + wait;
    for (bool down = false; !down;) {
      auto left = until - std::chrono::steady_clock::now();
      if (left <= std::chrono::steady_clock::duration::zero())
        return;
      self->receive([&](const caf::down_msg& dm) { down = dm.source == a.address(); },
                    caf::after(std::chrono::duration_cast<std::chrono::milliseconds>(left)) >>
                      [&] { down = true; });
    }
  };
  // The typed API answers what it has in flight first (within the
  // request timeout its shard requests carry).
  stop_and_wait(api, request_timeout + std::chrono::seconds(5));
  stop_and_wait(listener);
  stop_and_wait(http);
  stop_and_wait(cache_reader);
  stop_and_wait(reaper);
  for (auto& shard : shards)
    stop_and_wait(shard);
  // Write-behind: what is queued goes to PostgreSQL now, within the grace
  // period; whatever is left stays queued in Redis for the next start.
  if (supervisor && !metrics->write_behind.empty()) {
    log->info("write-behind: draining the queues into PostgreSQL (for up to {} ms)",
                 shutdown_grace.count());
    auto deadline = std::chrono::steady_clock::now() + shutdown_grace;
    self->request(supervisor, shutdown_grace + std::chrono::seconds(5), atom::flush::value,
                  static_cast<int64_t>(deadline.time_since_epoch().count()))
      .receive(
        [&](const std::vector<stream_report>& streams) {
          // Each figure is what Redis answered as its writer stopped waiting.
          auto summary = summarize_drain(streams);
          if (summary.drained)
            log->info("{}", summary.line);
          else
            log->warn("{}", summary.line);
        },
        [&](caf::error& err) {
          log->warn("write-behind: cannot tell what is left of the queues: the supervisor did "
                       "not answer ({}); what is queued stays in Redis and drains at the next "
                       "start", sys->render(err));
        });
  }
  // Returns once every worker has gone: no connection, transaction or
  // stream lock of this service outlives stop().
  stop_and_wait(supervisor, stop_wait + std::chrono::seconds(5));
  listener = nullptr;
  // `api` stays: a request to the dead actor is answered at once
  // (request_receiver_down), never sent to a null handle.
  cache_reader = nullptr;
  reaper = nullptr;
  http = nullptr;
  shards.clear();
  supervisor = nullptr;
  sys = nullptr;
}

}  // namespace wtcache
