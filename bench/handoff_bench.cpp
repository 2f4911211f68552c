// wtcache_handoff_bench: what one hand-off between threads costs on this
// machine, the unit that a write-through write pays several of and the
// seeds' code pays none of (it blocks on its own sockets).
//
//   - a CAF request from a broker on the multiplexer thread (as the shard
//     coordinators and client connections are) to a detached actor (a
//     worker's own thread, as the PostgreSQL workers are) and its answer
//     back: two wake-ups through CAF mailboxes, the second through the
//     multiplexer's pipe;
//   - the same from an actor on CAF's scheduler (the service's: "sharing");
//   - the same with a plain mutex and condition variable, the floor under
//     CAF's mailbox (a detached actor sleeps on one);
//   - two threads spinning on atomics, which never sleep: the hand-off
//     without a wake-up, to show what the wake-up itself costs.
//
// Prints p50 and p99 in microseconds over --rounds round trips (default
// 20000) after a warm-up. No servers are needed.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <type_traits>
#include <vector>

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/io/broker.hpp>
#include <caf/io/middleman.hpp>
#include <caf/scoped_actor.hpp>

using namespace std::chrono;

namespace {

struct figures {
  double p50 = 0, p99 = 0;
};

figures summarise(std::vector<double>& us) {
  std::sort(us.begin(), us.end());
  figures f;
  f.p50 = us[us.size() / 2];
  f.p99 = us[us.size() * 99 / 100];
  return f;
}

// Request and answer between a driver (a broker on the multiplexer, or an
// actor on the scheduler) and a detached actor; the scoped actor only
// starts the run and waits for it.
template <class Driver>
figures caf_round_trips(caf::actor_system& sys, int rounds) {
  auto echo = sys.spawn<caf::detached>([]() -> caf::behavior {
    return {[](int x) { return x; }};
  });
  std::vector<double> us;
  us.reserve(static_cast<std::size_t>(rounds));
  auto body = [&](Driver* self) -> caf::behavior {
    auto left = std::make_shared<int>(0);
    auto sent = std::make_shared<steady_clock::time_point>();
    auto next = [self, echo, &us, left, sent](auto& next_ref) -> void {
      *sent = steady_clock::now();
      self->request(echo, caf::infinite, 1).then([self, &us, left, sent, next_ref](int) {
        us.push_back(duration<double, std::micro>(steady_clock::now() - *sent).count());
        if (--*left > 0)
          next_ref(next_ref);
        else
          self->quit();
      });
    };
    return {[left, next](int n) {
      *left = n;
      next(next);
    }};
  };
  caf::actor driver;
  if constexpr (std::is_same_v<Driver, caf::io::broker>)
    driver = sys.middleman().spawn_broker(body);
  else
    driver = sys.spawn(body);
  {
    caf::scoped_actor self{sys};
    self->monitor(driver);
    self->send(driver, rounds);
    self->receive([](const caf::down_msg&) {});
  }
  caf::anon_send_exit(echo, caf::exit_reason::user_shutdown);
  return summarise(us);
}

// The same ping-pong on a mutex and two condition variables.
figures condvar_round_trips(int rounds) {
  std::mutex m;
  std::condition_variable to_echo, to_driver;
  bool ping = false, pong = false, done = false;
  std::thread echo([&] {
    std::unique_lock<std::mutex> lock(m);
    while (true) {
      to_echo.wait(lock, [&] { return ping || done; });
      if (done)
        return;
      ping = false;
      pong = true;
      to_driver.notify_one();
    }
  });
  std::vector<double> us;
  us.reserve(static_cast<std::size_t>(rounds));
  for (int i = 0; i < rounds; ++i) {
    auto sent = steady_clock::now();
    std::unique_lock<std::mutex> lock(m);
    ping = true;
    to_echo.notify_one();
    to_driver.wait(lock, [&] { return pong; });
    pong = false;
    us.push_back(duration<double, std::micro>(steady_clock::now() - sent).count());
  }
  {
    std::lock_guard<std::mutex> lock(m);
    done = true;
  }
  to_echo.notify_one();
  echo.join();
  return summarise(us);
}

// Both threads spin on atomics: the hand-off without any wake-up.
figures spinning_round_trips(int rounds) {
  std::atomic<int> ping{0}, pong{0};
  std::atomic<bool> done{false};
  std::thread echo([&] {
    int seen = 0;
    while (!done.load(std::memory_order_relaxed)) {
      int p = ping.load(std::memory_order_acquire);
      if (p != seen) {
        seen = p;
        pong.store(p, std::memory_order_release);
      }
    }
  });
  std::vector<double> us;
  us.reserve(static_cast<std::size_t>(rounds));
  for (int i = 1; i <= rounds; ++i) {
    auto sent = steady_clock::now();
    ping.store(i, std::memory_order_release);
    while (pong.load(std::memory_order_acquire) != i) {
    }
    us.push_back(duration<double, std::micro>(steady_clock::now() - sent).count());
  }
  done = true;
  echo.join();
  return summarise(us);
}

}  // namespace

int main(int argc, char** argv) {
  int rounds = 20000;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--rounds") == 0 && i + 1 < argc) {
      rounds = std::max(100, std::atoi(argv[++i]));
    } else {
      std::fprintf(stderr, "usage: wtcache_handoff_bench [--rounds N]\n");
      return 2;
    }
  }
  caf::actor_system_config cfg;
  cfg.load<caf::io::middleman>();
  cfg.set("scheduler.policy", caf::atom("sharing"));  // as wtcached runs
  caf::actor_system sys{cfg};
  caf_round_trips<caf::io::broker>(sys, rounds / 10);  // warm-up
  auto from_broker = caf_round_trips<caf::io::broker>(sys, rounds);
  auto from_scheduler = caf_round_trips<caf::event_based_actor>(sys, rounds);
  auto cv = condvar_round_trips(rounds);
  auto spin = spinning_round_trips(rounds);
  std::printf("hand-off round trips, %d each, %u cores (us)\n", rounds,
              std::thread::hardware_concurrency());
  std::printf("%-52s %8s %8s\n", "", "p50", "p99");
  std::printf("%-52s %8.1f %8.1f\n", "CAF: broker on the multiplexer -> detached actor",
              from_broker.p50, from_broker.p99);
  std::printf("%-52s %8.1f %8.1f\n", "CAF: actor on the scheduler -> detached actor",
              from_scheduler.p50, from_scheduler.p99);
  std::printf("%-52s %8.1f %8.1f\n", "mutex + condition variable ping-pong", cv.p50, cv.p99);
  std::printf("%-52s %8.1f %8.1f\n", "both threads spinning (no wake-up)", spin.p50, spin.p99);
  return 0;
}
