// Private redis-server and PostgreSQL processes under a data directory, on
// free loopback ports: the embedded default of wtcached and the servers of
// the test fixtures. Children die with the process that started them
// (PR_SET_PDEATHSIG), so a killed wtcached leaves no servers behind.
// PostgreSQL refuses to run as root: as root, its processes run as the
// `postgres` user, which then owns its data directory.
#pragma once

#include <sys/types.h>

#include <csignal>
#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

namespace wtcache {

// A child process started with fork/exec; stop() signals it and waits.
class child_process {
public:
  child_process() = default;
  child_process(const child_process&) = delete;
  child_process& operator=(const child_process&) = delete;
  ~child_process();

  // Starts `argv` with stdout/stderr appended to `log`, as `run_as` if
  // non-empty and we are root. The child gets `death_signal` when the thread
  // that started it ends. Throws std::runtime_error.
  void start(const std::vector<std::string>& argv, const std::string& log,
             const std::string& run_as = {}, int death_signal = SIGKILL);
  // Sends `sig`, waits up to `grace`, then SIGKILL. Returns the exit status.
  int stop(int sig, std::chrono::milliseconds grace = std::chrono::seconds(15));
  void signal(int sig) const;
  // Blocks until the process exits; returns its wait status.
  int wait();
  // Waits up to `limit` for the process to exit; false if it is still running.
  bool wait_for(std::chrono::milliseconds limit, int& status);
  bool running();
  pid_t pid() const { return pid_; }

private:
  pid_t pid_ = -1;
};

// Runs a command to completion (as `run_as` when root); throws with the tail
// of its output when it fails.
void run_command(const std::vector<std::string>& argv, const std::string& log,
                 const std::string& run_as = {});

// A port on 127.0.0.1 that was free a moment ago, below the kernel's
// ephemeral range when there is room, so that no outgoing connection is
// given it before a server binds it.
uint16_t free_loopback_port();
// Nothing is bound to this port on 127.0.0.1 now.
bool loopback_port_free(uint16_t port);

class embedded_redis {
public:
  ~embedded_redis();
  // Starts redis-server with its data in `dir` (AOF on, everysec) on `port`
  // (0: a free one) and waits until it answers PING. Throws.
  void start(const std::string& dir, uint16_t port = 0, std::vector<std::string> extra_args = {});
  void stop();
  // For fault tests: SIGKILL, SIGSTOP, SIGCONT.
  void kill();
  void pause() { proc_.signal(SIGSTOP); }
  void resume() { proc_.signal(SIGCONT); }
  uint16_t port() const { return port_; }
  std::string url() const { return "redis://127.0.0.1:" + std::to_string(port_); }
  const std::string& dir() const { return dir_; }

private:
  child_process proc_;
  std::string dir_;
  uint16_t port_ = 0;
  std::vector<std::string> extra_;
};

class embedded_postgres {
public:
  ~embedded_postgres();
  // Initialises a cluster in `dir` if there is none, starts it on `port` (0:
  // a free one) and waits until it accepts connections. A new database
  // "wtcache" is created and loaded with `init_sql`. `durable = false` turns
  // fsync off (tests only); `extra_args` go to the postgres command line
  // (tests: "-c", "ssl=on"...). Throws.
  void start(const std::string& dir, const std::string& init_sql, bool durable = true,
             uint16_t port = 0,
             std::vector<std::string> extra_args = {});
  void stop();
  void kill();
  // SIGSTOP / SIGCONT to the postmaster and every backend: a database that
  // holds connections open and answers nothing.
  void pause() { signal_all(SIGSTOP); }
  void resume() { signal_all(SIGCONT); }
  uint16_t port() const { return port_; }
  std::string url() const {
    return "postgresql://wtcache@127.0.0.1:" + std::to_string(port_) + "/wtcache";
  }

private:
  void signal_all(int sig) const;

  child_process proc_;
  std::string dir_;
  uint16_t port_ = 0;
};

// The directory holding initdb and postgres (WTCACHE_PG_BINDIR overrides).
std::string postgres_bindir();

// config/demo.sql, compiled in.
extern const char* const demo_sql;

}  // namespace wtcache
