// Private servers for a host that has no Redis or PostgreSQL of its own
// (a demo, a test, a laptop): the "embedded default" wtcached runs with.
// Installed as <wtcache/app/private_servers.hpp>.
//
//   wtcache::config c = wtcache::embedded_defaults();
//   c.data_dir = "./var";
//   auto servers = wtcache::private_servers::start(c);  // sets c's URLs
//   auto svc = wtcache::service::start(sys, c);
//   ...
//   svc->stop();
//   servers->stop();   // or let it go out of scope
//
// Starts redis-server (AOF on, everysec) and PostgreSQL (a new cluster is
// loaded with config/demo.sql, the sample namespaces' tables) as child
// processes, with their data under data_dir, on free loopback ports. Needs
// redis-server and PostgreSQL's binaries installed (scripts/setup.sh);
// as root, PostgreSQL runs as the `postgres` user. The servers die with the
// thread that started them (PR_SET_PDEATHSIG): start them from a thread
// that outlives the service, e.g. main().
#pragma once

#include <memory>

#include "../core/config.hpp"

namespace wtcache {

class private_servers {
public:
  // Starts a server for each of cfg.postgres_url and (unless `with_redis`
  // is false) cfg.redis_url that is empty, and sets that URL. Blocks until
  // they answer (a second or two; PostgreSQL's first start under a new
  // data_dir takes longer). Throws std::runtime_error, saying which server
  // failed and where its log is.
  static std::unique_ptr<private_servers> start(config& cfg, bool with_redis = true);
  ~private_servers();  // stop()
  private_servers(const private_servers&) = delete;
  private_servers& operator=(const private_servers&) = delete;

  bool runs_redis() const;
  bool runs_postgres() const;
  // Stops them cleanly (PostgreSQL first). Idempotent.
  void stop();

private:
  struct impl;
  private_servers();
  std::unique_ptr<impl> impl_;
};

}  // namespace wtcache
