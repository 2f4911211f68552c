// Private redis-server and PostgreSQL processes on free loopback ports.
#include "app/embedded_servers.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <grp.h>
#include <netinet/in.h>
#include <pwd.h>
#include <sys/ipc.h>
#include <sys/prctl.h>
#include <sys/shm.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <random>
#include <sstream>
#include <stdexcept>
#include <thread>

#include <hiredis/hiredis.h>
#include <libpq-fe.h>
#include <pqxx/pqxx>

#include "backends/redis_connection.hpp"

namespace fs = std::filesystem;

namespace wtcache {

namespace {

using clock_type = std::chrono::steady_clock;

std::string tail_of(const std::string& path, std::size_t max_lines = 15) {
  std::ifstream in(path);
  std::vector<std::string> lines;
  std::string line;
  while (std::getline(in, line)) {
    lines.push_back(line);
    if (lines.size() > max_lines)
      lines.erase(lines.begin());
  }
  std::string out;
  for (auto& l : lines)
    out += "\n  " + l;
  return out;
}

// Polls `ready` until it holds or the deadline passes; the condition is a
// real probe of the server, so this is a wait, not a guess.
template <class F>
bool wait_until(F ready, std::chrono::milliseconds limit, child_process* proc) {
  auto deadline = clock_type::now() + limit;
  while (clock_type::now() < deadline) {
    if (proc && !proc->running())
      return false;
    if (ready())
      return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return false;
}

void chown_tree(const std::string& path, uid_t uid, gid_t gid) {
  ::chown(path.c_str(), uid, gid);
  for (auto& e : fs::recursive_directory_iterator(path))
    ::lchown(e.path().c_str(), uid, gid);
}

const passwd* postgres_user() {
  auto pw = ::getpwnam("postgres");
  if (!pw)
    throw std::runtime_error("running as root, but there is no 'postgres' user to run "
                             "PostgreSQL as (install postgresql-15: scripts/setup.sh)");
  return pw;
}

}  // namespace

// ---- child_process ---------------------------------------------------------

child_process::~child_process() {
  if (pid_ > 0)
    stop(SIGKILL, std::chrono::seconds(5));
}

void child_process::start(const std::vector<std::string>& argv, const std::string& log,
                          const std::string& run_as, int death_signal) {
  uid_t uid = 0;
  gid_t gid = 0;
  std::vector<gid_t> groups;
  bool switch_user = !run_as.empty() && ::geteuid() == 0;
  if (switch_user) {
    auto pw = ::getpwnam(run_as.c_str());
    if (!pw)
      throw std::runtime_error("no user '" + run_as + "'");
    uid = pw->pw_uid;
    gid = pw->pw_gid;
    // Looked up here: after fork() only async-signal-safe calls are allowed.
    int n = 64;
    groups.resize(static_cast<std::size_t>(n));
    if (::getgrouplist(run_as.c_str(), gid, groups.data(), &n) < 0) {
      groups.resize(static_cast<std::size_t>(n));
      ::getgrouplist(run_as.c_str(), gid, groups.data(), &n);
    }
    groups.resize(static_cast<std::size_t>(n));
  }
  std::vector<char*> args;
  for (auto& a : argv)
    args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (fd < 0)
    throw std::runtime_error("cannot open " + log + ": " + std::strerror(errno));
  if (switch_user)
    ::fchown(fd, uid, gid);
  auto parent = ::getpid();
  pid_ = ::fork();
  if (pid_ < 0) {
    ::close(fd);
    throw std::runtime_error(std::string("fork: ") + std::strerror(errno));
  }
  if (pid_ == 0) {
    // The child: own process group (a terminal's Ctrl-C goes to wtcached,
    // which stops its servers in order), signals unblocked, logs redirected.
    ::setpgid(0, 0);
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    ::dup2(fd, 1);
    ::dup2(fd, 2);
    int devnull = ::open("/dev/null", O_RDONLY);
    if (devnull >= 0)
      ::dup2(devnull, 0);
    // Nothing of ours (client sockets, the listener) leaks into the server.
    ::close_range(3, ~0U, 0);
    if (switch_user) {
      if (::setgroups(groups.size(), groups.data()) != 0 || ::setgid(gid) != 0 ||
          ::setuid(uid) != 0) {
        const char msg[] = "cannot switch to the server's user\n";
        ::write(2, msg, sizeof msg - 1);
        ::_exit(127);
      }
    }
    // After setuid, which clears it: die with the process that started us.
    ::prctl(PR_SET_PDEATHSIG, death_signal);
    if (::getppid() != parent)
      ::_exit(1);
    ::execvp(args[0], args.data());
    const char msg[] = "cannot run the server binary\n";
    ::write(2, msg, sizeof msg - 1);
    ::_exit(127);
  }
  ::close(fd);
}

bool child_process::running() {
  if (pid_ <= 0)
    return false;
  int status = 0;
  auto r = ::waitpid(pid_, &status, WNOHANG);
  if (r == pid_) {
    pid_ = -1;
    return false;
  }
  return true;
}

void child_process::signal(int sig) const {
  if (pid_ > 0)
    ::kill(pid_, sig);
}

int child_process::stop(int sig, std::chrono::milliseconds grace) {
  if (pid_ <= 0)
    return 0;
  ::kill(pid_, sig);
  ::kill(pid_, SIGCONT);  // a paused process cannot act on the signal
  int status = 0;
  if (!wait_for(grace, status)) {
    ::kill(pid_, SIGKILL);
    status = wait();
  }
  return status;
}

void run_command(const std::vector<std::string>& argv, const std::string& log,
                 const std::string& run_as) {
  child_process p;
  p.start(argv, log, run_as);
  int status = p.wait();
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
    throw std::runtime_error(argv[0] + " failed; its output:" + tail_of(log));
}

bool child_process::wait_for(std::chrono::milliseconds limit, int& status) {
  auto deadline = clock_type::now() + limit;
  while (pid_ > 0) {
    auto r = ::waitpid(pid_, &status, WNOHANG);
    if (r == pid_ || r < 0) {
      pid_ = -1;
      return true;
    }
    if (clock_type::now() >= deadline)
      return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return true;
}

int child_process::wait() {
  int status = 0;
  if (pid_ > 0)
    ::waitpid(pid_, &status, 0);
  pid_ = -1;
  return status;
}

namespace {

// The kernel's range for the local ports of outgoing connections
// (net.ipv4.ip_local_port_range).
std::pair<unsigned, unsigned> ephemeral_ports() {
  std::ifstream in("/proc/sys/net/ipv4/ip_local_port_range");
  unsigned lo = 32768, hi = 60999;
  if (!(in >> lo >> hi) || lo > hi)
    return {32768, 60999};
  return {lo, hi};
}


}  // namespace

bool loopback_port_free(uint16_t port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0)
    return false;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(port);
  bool ok = ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
  ::close(fd);
  return ok;
}

uint16_t free_loopback_port() {
  // Below the ephemeral range: a port the kernel hands out itself (bind to
  // port 0) may go to an outgoing connection of anyone's before the server
  // meant to listen on it has bound it (seen: a wtcached node of the fault
  // suite found its port taken). Ports outside the range are never handed
  // out that way. Above 10000, clear of well-known services.
  auto [lo, hi] = ephemeral_ports();
  constexpr unsigned first = 10000;
  if (lo > first + 1000) {
    std::random_device rd;
    std::uniform_int_distribution<unsigned> pick(first, lo - 1);
    for (int attempt = 0; attempt < 200; ++attempt) {
      auto port = static_cast<uint16_t>(pick(rd));
      if (loopback_port_free(port))
        return port;
    }
  }
  // No room below the range: one the kernel picks.
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  socklen_t len = sizeof addr;
  if (fd < 0 || ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    if (fd >= 0)
      ::close(fd);
    throw std::runtime_error("cannot find a free port");
  }
  ::close(fd);
  return ntohs(addr.sin_port);
}

std::string postgres_bindir() {
  if (auto env = std::getenv("WTCACHE_PG_BINDIR"); env && *env)
    return env;
  std::string best;
  int best_version = -1;
  if (fs::exists("/usr/lib/postgresql"))
    for (auto& e : fs::directory_iterator("/usr/lib/postgresql")) {
      int version = std::atoi(e.path().filename().c_str());
      if (version > best_version && fs::exists(e.path() / "bin" / "postgres")) {
        best_version = version;
        best = (e.path() / "bin").string();
      }
    }
  if (best.empty())
    throw std::runtime_error("PostgreSQL server binaries not found under /usr/lib/postgresql "
                             "(install postgresql-15: scripts/setup.sh)");
  return best;
}

// ---- embedded_redis --------------------------------------------------------

embedded_redis::~embedded_redis() { stop(); }

void embedded_redis::start(const std::string& dir, uint16_t port,
                           std::vector<std::string> extra_args) {
  dir_ = fs::absolute(dir).string();
  fs::create_directories(dir_);
  port_ = port ? port : free_loopback_port();
  extra_ = std::move(extra_args);
  std::vector<std::string> argv = {
    "redis-server", "--port", std::to_string(port_), "--bind", "127.0.0.1",
    "--dir", dir_, "--appendonly", "yes", "--appendfsync", "everysec",
    "--save", "", "--daemonize", "no", "--protected-mode", "yes", "--unixsocket", "",
  };
  argv.insert(argv.end(), extra_.begin(), extra_.end());
  // If wtcached dies (even by kill -9) Redis stops cleanly, AOF flushed.
  proc_.start(argv, dir_ + "/redis.log", {}, SIGTERM);
  auto ping = [&] {
    sigpipe_blocked on_this_thread;  // hiredis writes on the host's thread here
    timeval tv{0, 200000};
    auto* c = redisConnectWithTimeout("127.0.0.1", port_, tv);
    bool ok = false;
    if (c && !c->err) {
      // Ours (not some other server that got the port first), and done
      // loading its AOF (INFO answers while loading; commands do not).
      auto* r = static_cast<redisReply*>(redisCommand(c, "INFO"));
      if (r && r->type == REDIS_REPLY_STRING) {
        std::string info(r->str, r->len);
        ok = info.find("process_id:" + std::to_string(proc_.pid()) + "\r\n") != std::string::npos &&
             info.find("\r\nloading:0\r\n") != std::string::npos;
      }
      if (r)
        freeReplyObject(r);
    }
    if (c)
      redisFree(c);
    return ok;
  };
  if (!wait_until(ping, std::chrono::seconds(20), &proc_))
    throw std::runtime_error("redis-server did not start; its log:" + tail_of(dir_ + "/redis.log"));
}

void embedded_redis::stop() { proc_.stop(SIGTERM); }

void embedded_redis::kill() { proc_.stop(SIGKILL, std::chrono::seconds(5)); }

// ---- embedded_postgres -----------------------------------------------------

embedded_postgres::~embedded_postgres() { stop(); }

void embedded_postgres::start(const std::string& dir, const std::string& init_sql,
                              bool durable, uint16_t port, std::vector<std::string> extra_args) {
  dir_ = fs::absolute(dir).lexically_normal().string();
  auto data = dir_ + "/data";
  fs::create_directories(dir_);
  std::string run_as;
  if (::geteuid() == 0) {
    auto pw = postgres_user();
    run_as = "postgres";
    // The postgres user must reach the directory: open the parents for
    // traversal only where they are ours and closed.
    for (auto p = fs::path(dir_).parent_path(); !p.empty() && p != p.root_path();
         p = p.parent_path()) {
      struct stat sb{};
      if (::stat(p.c_str(), &sb) == 0 && sb.st_uid == 0 && !(sb.st_mode & S_IXOTH)) {
        ::chmod(p.c_str(), sb.st_mode | S_IXOTH);
        std::fprintf(stderr, "note: made %s traversable (o+x) so that the postgres user can "
                             "reach its data directory\n", p.c_str());
      }
    }
    chown_tree(dir_, pw->pw_uid, pw->pw_gid);
  }
  // A postmaster already running on this data directory belongs to another
  // wtcached started with the same --data-dir: say so, rather than show the
  // log of a start that cannot work.
  {
    std::ifstream pidfile(data + "/postmaster.pid");
    long pid = 0;
    std::string comm;
    if (pidfile >> pid && pid > 0 && ::kill(static_cast<pid_t>(pid), 0) == 0 &&
        std::getline(std::ifstream("/proc/" + std::to_string(pid) + "/comm"), comm) &&
        comm.rfind("postgres", 0) == 0)
      throw std::runtime_error(
        "the private PostgreSQL under " + dir_ + " is already running (pid " +
        std::to_string(pid) + "), most likely for another wtcached with the same data "
        "directory; stop that one, use another --data-dir, or give --redis and --postgres the "
        "URLs its banner printed");
  }
  auto bin = postgres_bindir();
  if (!fs::exists(data + "/PG_VERSION")) {
    std::vector<std::string> initdb = {bin + "/initdb", "-D", data, "-U", "wtcache",
                                       "--auth=trust", "--encoding=UTF8", "--locale=C.UTF-8"};
    if (!durable)
      initdb.push_back("--no-sync");
    run_command(initdb, dir_ + "/initdb.log", run_as);
  }
  port_ = port ? port : free_loopback_port();
  std::vector<std::string> argv = {
    bin + "/postgres", "-D", data, "-p", std::to_string(port_),
    "-c", "listen_addresses=127.0.0.1", "-c", "unix_socket_directories=",
    "-c", "max_connections=200", "-c", "shared_buffers=128MB",
  };
  if (!durable) {
    // Without fsync a commit still reaches the kernel before it is answered
    // (synchronous_commit stays on), so killing PostgreSQL loses nothing;
    // only the machine crashing would.
    for (const char* opt : {"fsync=off", "full_page_writes=off"}) {
      argv.push_back("-c");
      argv.push_back(opt);
    }
  }
  argv.insert(argv.end(), extra_args.begin(), extra_args.end());
  // If wtcached dies (even by kill -9) PostgreSQL does a fast, clean shutdown.
  proc_.start(argv, dir_ + "/postgres.log", run_as, SIGINT);
  auto admin = "postgresql://wtcache@127.0.0.1:" + std::to_string(port_) + "/postgres";
  // Ready, and ours: the server answering runs on our data directory (not
  // some other cluster that got the port first).
  auto ours = fs::weakly_canonical(data);
  auto ready = [&] {
    if (PQping(admin.c_str()) != PQPING_OK)
      return false;
    try {
      pqxx::connection c(admin);
      pqxx::nontransaction tx(c);
      auto dir = tx.exec("SELECT current_setting('data_directory')")[0][0].as<std::string>();
      return fs::weakly_canonical(dir) == ours;
    } catch (const std::exception&) {
      return false;
    }
  };
  if (!wait_until(ready, std::chrono::seconds(60), &proc_))
    throw std::runtime_error("PostgreSQL did not start; its log:" + tail_of(dir_ + "/postgres.log"));
  pqxx::connection c(admin);
  pqxx::nontransaction tx(c);
  if (tx.exec("SELECT 1 FROM pg_database WHERE datname = 'wtcache'").empty())
    tx.exec("CREATE DATABASE wtcache");
  // The init script runs in one transaction and leaves a mark, so a start
  // that died half-way loads it again next time.
  auto marked = tx.exec("SELECT shobj_description(oid, 'pg_database') = 'wtcache: initialised' "
                        "FROM pg_database WHERE datname = 'wtcache'");
  if (marked[0][0].is_null() || !marked[0][0].as<bool>()) {
    pqxx::connection db(url());
    pqxx::work init(db);
    init.exec(init_sql);
    init.exec("COMMENT ON DATABASE wtcache IS 'wtcache: initialised'");
    init.commit();
  }
}

void embedded_postgres::stop() { proc_.stop(SIGINT); }  // fast shutdown: clean, no waiting for clients

namespace {

// The System V shared memory segment of the postmaster running on `data`
// (postmaster.pid, line 7: "key id"); -1 if there is none.
int shared_memory_id(const std::string& data) {
  std::ifstream in(data + "/postmaster.pid");
  std::string line;
  for (int i = 0; i < 7 && std::getline(in, line); ++i) {
  }
  long key = 0, id = -1;
  if (std::sscanf(line.c_str(), "%ld %ld", &key, &id) != 2)
    return -1;
  return static_cast<int>(id);
}

// No process is attached to the segment any more (or it is gone).
bool shared_memory_released(int id) {
  struct shmid_ds ds{};
  return ::shmctl(id, IPC_STAT, &ds) != 0 || ds.shm_nattch == 0;
}

}  // namespace

// The backends outlive a killed postmaster for a moment (they notice its
// death and exit); a new postmaster refuses to start on the data directory
// while any of them still holds the old shared memory, so wait for that.
void embedded_postgres::signal_all(int sig) const {
  // A process's state and parent, from /proc/PID/stat.
  auto stat_of = [](const fs::path& proc, std::string& state, pid_t& parent) {
    std::ifstream in(proc / "stat");
    std::string stat((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    auto close = stat.rfind(')');
    if (close == std::string::npos)
      return false;
    std::istringstream rest(stat.substr(close + 2));
    return bool(rest >> state >> parent);
  };
  proc_.signal(sig);
  if (sig == SIGSTOP) {
    // kill() returns before the postmaster has stopped: until it has, it
    // may still fork a backend the scan below would miss.
    auto deadline = clock_type::now() + std::chrono::seconds(2);
    std::string state;
    pid_t parent = 0;
    while (clock_type::now() < deadline &&
           stat_of("/proc/" + std::to_string(proc_.pid()), state, parent) && state != "T")
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  for (auto& entry : fs::directory_iterator("/proc")) {
    auto name = entry.path().filename().string();
    if (name.find_first_not_of("0123456789") != std::string::npos)
      continue;
    std::string state;
    pid_t parent = 0;
    if (stat_of(entry.path(), state, parent) && parent == proc_.pid())
      ::kill(static_cast<pid_t>(std::stol(name)), sig);
  }
}

void embedded_postgres::kill() {
  auto shm = shared_memory_id(dir_ + "/data");
  proc_.stop(SIGKILL, std::chrono::seconds(5));
  if (shm >= 0 && !wait_until([&] { return shared_memory_released(shm); },
                              std::chrono::seconds(30), nullptr))
    throw std::runtime_error("PostgreSQL's backends did not exit after its postmaster was killed");
}

}  // namespace wtcache
