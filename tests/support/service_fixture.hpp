// The fixture of the service tests (tests/service_*_test.cpp): one service
// on this binary's Redis and PostgreSQL, run in this process through the
// embedding API so that test hooks (gates) can make races deterministic,
// and the helpers its tests share.
#pragma once

#include <atomic>
#include <future>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/response_promise.hpp>
#include <caf/stateful_actor.hpp>

#include "app/config.hpp"
#include "app/service.hpp"
#include "app/service_testing.hpp"
#include "tests/support/resp_client.hpp"
#include "tests/support/servers.hpp"
#include "tests/support/text.hpp"

namespace wtcache::test {

// The test side of a shard hook: requests for armed keys are held until
// released; all others pass at once.
struct test_gate {
  caf::actor actor;
  std::shared_ptr<std::atomic<int>> held = std::make_shared<std::atomic<int>>(0);
  void arm(const std::string& key);
  void release(const std::string& key);
};

// Spawns the gate's actor in `sys`.
test_gate make_gate(caf::actor_system& sys);

// A figure of the service's INFO.
inline std::string info_field(resp_client& c, const std::string& name) {
  return info_field(c.cmd({"INFO"}).str, name);
}

class Service : public ::testing::Test {
protected:
  static config suite_config() { return test_config(); }

  // Another service on the same servers, with one setting changed; it stops
  // when the returned pointer goes.
  template <class Tweak>
  static std::unique_ptr<service> start_service_with(Tweak tweak) {
    auto cfg = suite_config();
    tweak(cfg);
    return start_service(cfg);
  }

  // `release_at_commit` false (shard_hooks): a write held by write_gate_
  // holds its shard, as hold_shard_with needs.
  static std::unique_ptr<service> start_service(const config& cfg, bool release_at_commit = false) {
    shard_hooks hooks;
    hooks.before_fill = fill_gate_->actor;
    hooks.before_cache_write = write_gate_->actor;
    hooks.release_at_commit = release_at_commit;
    return start_with_hooks(*sys_, cfg, hooks);
  }

  static void SetUpTestSuite() {
    sys_cfg_ = std::make_unique<caf::actor_system_config>();
    configure_actor_system(*sys_cfg_);
    use_sharing_scheduler(*sys_cfg_);  // as wtcached runs
    sys_ = std::make_unique<caf::actor_system>(*sys_cfg_);
    fill_gate_ = std::make_unique<test_gate>(make_gate(*sys_));
    write_gate_ = std::make_unique<test_gate>(make_gate(*sys_));
    svc_ = start_service(suite_config());
    port_ = svc_->port();
  }

  static void TearDownTestSuite() {
    svc_->stop();
    svc_.reset();
    caf::anon_send_exit(fill_gate_->actor, caf::exit_reason::user_shutdown);
    caf::anon_send_exit(write_gate_->actor, caf::exit_reason::user_shutdown);
    fill_gate_.reset();
    write_gate_.reset();
    sys_.reset();
    sys_cfg_.reset();
  }

  // A key of this test that the shard of `other` owns (4 shards).
  std::string key_beside(const std::string& other, const std::string& prefix = "") {
    for (;;) {
      auto k = key(prefix);
      if (shard_of(k, 4) == shard_of(other, 4))
        return k;
    }
  }

  // Holds the shard of `k` after its next write's COMMIT (until release).
  std::future<reply> hold_shard_with(const std::string& k, uint16_t port) {
    write_gate_->arm(k);
    int held = *write_gate_->held;
    auto f = std::async(std::launch::async, [k, port] {
      resp_client w(port);
      return w.cmd({"SET", k, "held"});
    });
    EXPECT_TRUE(eventually([&] { return *write_gate_->held == held + 1; }));
    return f;
  }

  // Runs `cmd` on a connection of its own.
  static std::future<reply> async_cmd(uint16_t port, std::vector<std::string> cmd) {
    return std::async(std::launch::async, [=] {
      resp_client w(port);
      return w.cmd(cmd);
    });
  }

  // Sends `cmd` (a write of a key of `first`'s shard) while `first`'s write
  // is held after its COMMIT, then lets that one go: `cmd`'s transaction is
  // then one with writes coming in (group_commit::overlapping), which a
  // service started with release_at_commit releases at its COMMIT. Returns
  // its reply to come.
  std::future<reply> overlapping(resp_client& c, uint16_t port, const std::string& first,
                                 std::vector<std::string> cmd) {
    write_gate_->arm(first);
    int held = *write_gate_->held;
    auto hold_first = async_cmd(port, {"SET", first, "1"});
    EXPECT_TRUE(eventually([&] { return *write_gate_->held == held + 1; }));
    auto queued = std::stoll(info_field(c, "queued_writes"));
    auto f = async_cmd(port, std::move(cmd));
    EXPECT_TRUE(eventually([&] { return std::stoll(info_field(c, "queued_writes")) == queued + 1; }));
    write_gate_->release(first);
    EXPECT_EQ(hold_first.get().str, "OK");
    return f;
  }

  // A key unique to this test, in the default namespace unless a prefix is given.
  std::string key(const std::string& prefix = "") {
    auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    return prefix + info->name() + std::to_string(++counter_);
  }

  static reply redis_entry(const std::string& client_key) {
    resp_client r(servers::get().redis_port());
    return r.cmd({"HGETALL", cache_key(client_key)});
  }

  // Writes `k` through the service, then removes its cache entry behind the
  // service's back, so the next GET misses.
  void set_then_evict(resp_client& c, const std::string& k, const std::string& v) {
    ASSERT_EQ(c.cmd({"SET", k, v}).str, "OK");
    resp_client redis(servers::get().redis_port());
    ASSERT_EQ(redis.cmd({"DEL", cache_key(k)}).number, 1);
  }

  static std::string field(const reply& hash, const std::string& name) {
    for (std::size_t i = 0; i + 1 < hash.elements.size(); i += 2)
      if (hash.elements[i].str == name)
        return hash.elements[i + 1].str;
    return {};
  }

  static inline std::unique_ptr<caf::actor_system_config> sys_cfg_;
  static inline std::unique_ptr<caf::actor_system> sys_;
  static inline std::unique_ptr<service> svc_;
  static inline std::unique_ptr<test_gate> fill_gate_, write_gate_;
  static inline uint16_t port_ = 0;
  static inline int counter_ = 0;
};

}  // namespace wtcache::test
