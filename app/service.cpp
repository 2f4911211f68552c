#include "app/service.hpp"

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/io/middleman.hpp>
#include <caf/scoped_actor.hpp>
#include <caf/send.hpp>

#include "actors/listener.hpp"
#include "actors/redis_worker.hpp"
#include "actors/supervisor.hpp"
#include "app/schema.hpp"
#include "messages/atoms.hpp"
#include "messages/errors.hpp"
#include "messages/registration.hpp"

namespace wtcache {

namespace {

// Fails early, with a message a person can act on, when Redis is not there:
// the connection a worker would make, made once on this thread.
void check_redis(const redis_endpoint& ep, const std::string& url) {
  redis_worker_state probe;
  probe.endpoint = ep;
  probe.timeout = std::chrono::seconds(2);
  if (auto err = probe.connect())
    throw config_error("redis", "cannot reach " + redact_url(url) + ": " + error_detail(err));
}

}  // namespace

void configure_actor_system(caf::actor_system_config& cfg) {
  cfg.load<caf::io::middleman>();
  register_message_types(cfg);
}

void use_sharing_scheduler(caf::actor_system_config& cfg) {
  cfg.set("scheduler.policy", caf::atom("sharing"));
}

std::unique_ptr<service> service::start(caf::actor_system& sys, const config& cfg,
                                        service_options opts) {
  auto redis = parse_redis_url(cfg.redis_url, "redis.url");
  check_postgres_url(cfg.postgres_url, "postgres.url");
  auto postgres_url = with_connection_timeouts(cfg.postgres_url, cfg.postgres_timeout);
  prepare_schema(postgres_url, cfg.namespaces);
  check_redis(redis, cfg.redis_url);

  std::unique_ptr<service> svc(new service);
  svc->sys_ = &sys;
  svc->metrics_ = std::make_shared<service_metrics>();
  auto spaces = std::make_shared<const namespace_table>(cfg.namespaces);

  for (std::size_t i = 0; i < cfg.shards; ++i) {
    shard_settings s;
    s.index = i;
    s.shard_count = cfg.shards;
    s.spaces = spaces;
    s.metrics = svc->metrics_;
    s.redis_prefix = cfg.redis_key_prefix;
    s.default_ttl = cfg.default_ttl;
    s.tombstone_ttl = cfg.tombstone_ttl;
    s.postgres_timeout = cfg.postgres_timeout;
    s.redis_timeout = cfg.redis_timeout;
    s.request_timeout = cfg.request_timeout;
    s.max_batch_ops = cfg.max_batch_ops;
    s.max_queued_writes = cfg.max_queued_writes;
    s.retry_backoff = cfg.restart_backoff;
    s.hooks = opts.hooks;
    svc->shards_.push_back(sys.spawn(shard_coordinator, std::move(s)));
  }
  std::vector<caf::actor> peers;
  for (auto& shard : svc->shards_)
    peers.push_back(caf::actor_cast<caf::actor>(shard));
  for (auto& shard : svc->shards_)
    caf::anon_send(shard, atom::peers::value, peers);

  supervisor_settings sup;
  sup.postgres_url = postgres_url;
  sup.postgres_pool = cfg.postgres_pool;
  sup.postgres_timeout = cfg.postgres_timeout;
  sup.spaces = spaces;
  sup.redis = redis;
  sup.redis_pool = cfg.redis_pool;
  sup.redis_timeout = cfg.redis_timeout;
  sup.backoff = cfg.restart_backoff;
  sup.shards = svc->shards_;
  sup.metrics = svc->metrics_;
  svc->supervisor_ = sys.spawn(supervisor, std::move(sup));

  // Accept no client before every shard knows its workers: the supervisor
  // announced them before answering, and each shard reads its mailbox in order.
  caf::scoped_actor self{sys};
  std::string start_error;
  self->request(svc->supervisor_, std::chrono::seconds(10), atom::get::value)
    .receive([](caf::ok_atom) {}, [&](caf::error& err) { start_error = sys.render(err); });
  for (auto& shard : svc->shards_)
    self->request(shard, std::chrono::seconds(10), atom::workers::value)
      .receive(
        [&](const std::vector<uint64_t>& n) {
          if (n.size() != 2 || n[0] == 0 || n[1] == 0)
            start_error = "a shard did not learn its workers";
        },
        [&](caf::error& err) { start_error = sys.render(err); });
  if (!start_error.empty()) {
    svc->stop();
    throw std::runtime_error("cannot start the actors: " + start_error);
  }

  auto fe = std::make_shared<front_end>();
  fe->spaces = spaces;
  fe->metrics = svc->metrics_;
  fe->shards = svc->shards_;
  fe->parse_limits.max_bulk = cfg.max_value_bytes;
  fe->limits.max_value_bytes = cfg.max_value_bytes;
  // A shard answers within its own deadlines (database, then cache); the
  // client's deadline covers both plus the queueing before them.
  fe->request_timeout = cfg.request_timeout;
  fe->answer_timeout = cfg.request_timeout + cfg.postgres_timeout + cfg.redis_timeout +
                       std::chrono::seconds(2);
  fe->max_pipeline = cfg.max_pipeline;
  fe->max_reply_buffer_bytes = cfg.max_reply_buffer_bytes;
  fe->started = std::chrono::steady_clock::now();
  svc->listener_ = sys.middleman().spawn_broker(listener, cfg.listen_host, cfg.listen_port, fe);

  std::string bind_error;
  self->request(svc->listener_, std::chrono::seconds(10), atom::get::value)
    .receive([&](uint16_t port) { svc->port_ = port; },
             [&](caf::error& err) { bind_error = client_error_text(err); });
  if (!bind_error.empty()) {
    svc->stop();
    if (bind_error.rfind("cannot listen", 0) == 0)
      throw config_error("server.listen", bind_error);
    throw std::runtime_error(bind_error);
  }
  return svc;
}

service::~service() { stop(); }

void service::stop() {
  if (!sys_)
    return;
  // Dependency order: no new requests, then the coordinators, then the workers.
  caf::scoped_actor self{*sys_};
  auto stop_and_wait = [&](const auto& a) {
    if (!a)
      return;
    self->monitor(a);
    self->send_exit(a, caf::exit_reason::user_shutdown);
    self->receive([&](const caf::down_msg&) {},
                  caf::after(std::chrono::seconds(10)) >> [] {});
  };
  stop_and_wait(listener_);
  for (auto& s : shards_)
    stop_and_wait(s);
  stop_and_wait(supervisor_);
  listener_ = nullptr;
  shards_.clear();
  supervisor_ = nullptr;
  sys_ = nullptr;
}

}  // namespace wtcache
