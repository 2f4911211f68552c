// The supervisor restarts a worker that dies, after a backoff, and tells the
// shards which workers are alive at every step.
#include <gtest/gtest.h>

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/scoped_actor.hpp>

#include "actors/supervisor.hpp"
#include "app/schema.hpp"
#include "app/service.hpp"
#include "messages/atoms.hpp"
#include "tests/support/servers.hpp"

using namespace wtcache;
using namespace std::chrono_literals;

namespace {

// Reads pool announcements until the pool of `Worker`s has `size` workers.
template <class Worker>
std::vector<Worker> await_pool(caf::scoped_actor& self, std::size_t size) {
  using other = std::conditional_t<std::is_same_v<Worker, postgres_worker_actor>,
                                   redis_worker_actor, postgres_worker_actor>;
  std::vector<Worker> last;
  bool timed_out = false;
  while (!timed_out && last.size() != size) {
    self->receive(
      [&](atom::workers, const std::vector<Worker>& pool) {
        if (pool.size() == size)
          last = pool;
      },
      [&](atom::workers, const std::vector<other>&) {},
      caf::after(std::chrono::seconds(10)) >> [&] { timed_out = true; });
  }
  EXPECT_FALSE(timed_out) << "no pool of " << size;
  return last;
}

}  // namespace

TEST(Supervisor, RestartsACrashedWorkerAfterABackoffAndAnnouncesIt) {
  caf::actor_system_config cfg;
  configure_actor_system(cfg);
  caf::actor_system sys{cfg};
  caf::scoped_actor shard{sys};  // stands where the shards stand: it hears the announcements
  auto metrics = std::make_shared<service_metrics>();
  namespace_config def;
  def.table = "wtcache_kv";
  supervisor_settings s;
  s.postgres_url = test::servers::get().postgres_url();
  s.postgres_pool = 2;
  s.spaces = std::make_shared<const namespace_table>(std::vector<namespace_config>{def});
  s.redis = parse_redis_url(test::servers::get().redis_url(), "redis");
  s.redis_pool = 1;
  s.backoff = backoff_policy{50ms, 1000ms, 0.0};
  s.shards = {caf::actor_cast<shard_actor>(shard)};
  s.metrics = metrics;
  s.health = std::make_shared<node_health>();
  prepare_schema(s.postgres_url, {def});
  auto sup = sys.spawn(supervisor, s);

  auto pool = await_pool<postgres_worker_actor>(shard, 2);
  await_pool<redis_worker_actor>(shard, 1);
  ASSERT_EQ(pool.size(), 2u);
  auto crashed = pool[0];
  auto killed_at = std::chrono::steady_clock::now();
  shard->send_exit(crashed, caf::exit_reason::kill);

  auto survivors = await_pool<postgres_worker_actor>(shard, 1);
  ASSERT_EQ(survivors.size(), 1u);
  EXPECT_EQ(survivors[0], pool[1]);
  auto restarted = await_pool<postgres_worker_actor>(shard, 2);
  EXPECT_GE(std::chrono::steady_clock::now() - killed_at, 50ms);  // the backoff
  EXPECT_EQ(metrics->worker_restarts.load(), 1u);
  ASSERT_EQ(restarted.size(), 2u);
  auto fresh = restarted[0] == pool[1] ? restarted[1] : restarted[0];
  EXPECT_NE(fresh, crashed);

  // The replacement is a working worker with its own connection.
  int64_t version = 0;
  shard->request(fresh, 10s, atom::version::value)
    .receive([&](int64_t v) { version = v; },
             [&](caf::error& err) { ADD_FAILURE() << sys.render(err); });
  EXPECT_GT(version, 0);

  shard->send_exit(sup, caf::exit_reason::user_shutdown);
}
