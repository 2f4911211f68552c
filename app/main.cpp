// wtcached: the write-through cache service. A thin main over the library:
// parse the configuration, start the embedded servers when no URLs are
// given, run the service until SIGINT/SIGTERM, stop everything in order.
#include <sys/resource.h>

#include <csignal>
#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <memory>

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <spdlog/spdlog.h>

#include "app/check.hpp"
#include "app/config.hpp"
#include "app/private_servers.hpp"
#include "app/schema.hpp"
#include "app/logging.hpp"
#include "app/service.hpp"
#include "core/version.hpp"

namespace {

bool json_logs = false;  // --log-format json: failures are log objects too

int fail(const char* what, const std::exception& e, int status) {
  if (json_logs)
    spdlog::error("{}{}", what, e.what());
  else
    std::fprintf(stderr, "wtcached: %s%s\n", what, e.what());
  return status;
}

// As Redis does: room to open maxclients connections, plus the backends'
// connections and files; where the hard limit leaves less, fewer clients.
void make_room_for_clients(wtcache::config& cfg) {
  constexpr rlim_t reserved = 128;
  rlimit lim{};
  if (::getrlimit(RLIMIT_NOFILE, &lim) != 0)
    return;
  rlim_t want = cfg.maxclients + reserved;
  if (lim.rlim_cur >= want)
    return;
  rlimit raised = lim;
  raised.rlim_cur = lim.rlim_max == RLIM_INFINITY ? want : std::min(want, lim.rlim_max);
  if (::setrlimit(RLIMIT_NOFILE, &raised) == 0)
    lim = raised;
  if (lim.rlim_cur < want) {
    auto fit = lim.rlim_cur > reserved ? lim.rlim_cur - reserved : 1;
    spdlog::warn("server.maxclients is {}, but this process may open only {} files: "
                 "accepting at most {} clients (raise ulimit -n)",
                 cfg.maxclients, lim.rlim_cur, fit);
    cfg.maxclients = fit;
  }
}

}  // namespace

int main(int argc, char** argv) {
  // Logs go to stderr; stdout carries only the start-up banner.
  wtcache::set_up_logging("text", "info");
  // Block the stop signals in every thread; the main thread waits for them.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  std::signal(SIGPIPE, SIG_IGN);

  wtcache::command_line cl;
  wtcache::config cfg;
  try {
    cl = wtcache::parse_command_line(argc, argv);
    if (cl.help) {
      std::fputs(wtcache::usage_text().c_str(), stdout);
      return 0;
    }
    if (cl.version) {
      std::printf("wtcached %s\n", wtcache::version());
      return 0;
    }
    wtcache::set_up_logging(cl.log_format, cl.log_level);
    json_logs = cl.log_format == "json";
    cfg = wtcache::load_config(cl);
    make_room_for_clients(cfg);
  } catch (const wtcache::config_error& e) {
    return fail("invalid configuration: ", e, 2);
  }

  // Private servers for whatever the configuration leaves unset.
  std::unique_ptr<wtcache::private_servers> servers;
  auto stop_servers = [&] {
    if (servers)
      servers->stop();
  };
  try {
    servers = wtcache::private_servers::start(cfg, cl.subcommand != "migrate");
    if (cl.subcommand == "migrate") {
      for (auto& line : wtcache::migrate_schema(cfg.postgres_url, cfg.namespaces))
        std::printf("migrate: %s\n", line.c_str());
      stop_servers();
      return 0;
    }
    if (cl.subcommand == "check") {
      auto status = wtcache::run_check(cfg, cl.config_file ? *cl.config_file : "built-in defaults");
      stop_servers();
      return status;
    }
  } catch (const wtcache::config_error& e) {
    stop_servers();
    return fail("invalid configuration: ", e, 2);
  } catch (const std::exception& e) {
    stop_servers();
    return fail("", e, 1);
  }

  int status = 0;
  {
    caf::actor_system_config sys_cfg;
    wtcache::configure_actor_system(sys_cfg);
    wtcache::use_sharing_scheduler(sys_cfg);
    caf::actor_system sys{sys_cfg};
    std::unique_ptr<wtcache::service> svc;
    try {
      svc = wtcache::service::start(sys, cfg);
    } catch (const wtcache::config_error& e) {
      status = fail("invalid configuration: ", e, 2);
    } catch (const std::exception& e) {
      status = fail("", e, 1);
    }
    if (svc) {
      const char* topology = servers->runs_redis() ? " (embedded)"
                             : cfg.redis_cluster     ? " (a Redis Cluster)"
                                                     : "";
      spdlog::info("wtcached {} serving RESP on {}:{}, HTTP {}; {} shards; redis {}{} (pool {}); "
                   "postgres {}{} (pool {}); {} namespace(s) besides the default",
                   wtcache::version(), cfg.listen_host, svc->port(),
                   svc->http_port() ? cfg.http_host + ":" + std::to_string(svc->http_port())
                                    : std::string("off"),
                   cfg.shards, wtcache::redact_url(cfg.redis_url), topology, cfg.redis_pool,
                   wtcache::redact_url(cfg.postgres_url), servers->runs_postgres() ? " (embedded)" : "",
                   cfg.postgres_pool, cfg.namespaces.size() - 1);
      std::printf("wtcached listening on %s:%u\n", cfg.listen_host.c_str(), svc->port());
      std::printf("  redis:    %s%s\n", wtcache::redact_url(cfg.redis_url).c_str(), topology);
      std::printf("  postgres: %s%s\n", wtcache::redact_url(cfg.postgres_url).c_str(),
                  servers->runs_postgres() ? " (embedded)" : "");
      if (servers->runs_redis() || servers->runs_postgres())
        std::printf("  data:     %s\n", std::filesystem::absolute(cfg.data_dir).lexically_normal().c_str());
      if (svc->http_port() != 0)
        std::printf("  metrics:  http://%s:%u/metrics (also /healthz, /readyz)\n",
                    cfg.http_host.c_str(), svc->http_port());
      // With a password set, redis-cli asks for it rather than take it as a flag.
      std::string auth = !cfg.requirepass_sha256.empty() ? " --askpass"
                         : cfg.users.empty()               ? ""
                                                           : " --user " + cfg.users.front().name + " --askpass";
      std::printf("try it:     redis-cli -p %u%s SET session:42 '{\"cart\":[1]}'\n", svc->port(),
                  auth.c_str());
      std::fflush(stdout);
      int sig = 0;
      sigwait(&stop_signals, &sig);
      spdlog::info("received {}, stopping (again to stop at once)",
                   sig == SIGINT ? "SIGINT" : "SIGTERM");
      // A second signal ends the process at once, should stopping hang.
      std::signal(SIGINT, SIG_DFL);
      std::signal(SIGTERM, SIG_DFL);
      pthread_sigmask(SIG_UNBLOCK, &stop_signals, nullptr);
      svc->stop();
    }
  }
  stop_servers();
  return status;
}
