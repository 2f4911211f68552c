// The fault-injection suite's parts, shared by its binaries: wtcached as a
// process, and clients on a few contended keys whose every operation goes
// into a history (tests/fault/history.hpp).
#pragma once

#include <atomic>
#include <chrono>
#include <fstream>
#include <functional>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "app/embedded_servers.hpp"
#include "tests/fault/history.hpp"
#include "tests/support/resp_client.hpp"
#include "tests/support/servers.hpp"
#include "tests/support/text.hpp"

namespace wtcache::test::fault {

using namespace std::chrono_literals;
using steady = std::chrono::steady_clock;

inline std::string replace_once(std::string text, const std::string& from, const std::string& to) {
  auto at = text.find(from);
  if (at == std::string::npos)
    throw std::runtime_error("sample config has no \"" + from + "\"");
  return text.replace(at, from.size(), to);
}

// The sample configuration with deadlines and backoffs short enough for
// faults that last a second or two.
inline std::string fault_config() {
  auto t = sample_config_text();
  t = replace_once(t, "request_timeout_ms = 5000", "request_timeout_ms = 2000");
  t = replace_once(t, "timeout_ms = 1000", "timeout_ms = 300");    // redis
  t = replace_once(t, "timeout_ms = 3000", "timeout_ms = 1000");   // postgres
  t = replace_once(t, "min_backoff_ms = 100", "min_backoff_ms = 50");
  t = replace_once(t, "max_backoff_ms = 10000", "max_backoff_ms = 1000");
  t = replace_once(t, "shutdown_grace_ms = 10000", "shutdown_grace_ms = 3000");
  // Two shards, so that a MULTI/EXEC's keys are in different ones as often
  // as not.
  t = replace_once(t, "shards = 1", "shards = 2");
  return t;
}


// One wtcached process on a fixed port, so that clients find it again
// after a restart.
class node {
public:
  node(const std::string& dir, const std::string& name, std::string config = fault_config()) {
    config_ = dir + "/" + name + ".toml";
    log_ = dir + "/" + name + ".log";
    std::ofstream(config_) << config;
    port_ = free_loopback_port();
    http_port_ = free_loopback_port();
  }
  ~node() {
    if (proc_.running())
      proc_.stop(SIGKILL);
  }

  void start() {
    for (int attempt = 0;; ++attempt) {
      std::ofstream(log_, std::ios::app) << "--- start\n";
      auto taken_before = count_of(slurp(log_), "the port is in use");
      proc_.start({WTCACHED_PATH, "--config", config_, "--listen",
                   "127.0.0.1:" + std::to_string(port_), "--http-listen",
                   "127.0.0.1:" + std::to_string(http_port_), "--redis",
                   redis_url_.empty() ? servers::get().redis_url() : redis_url_,
                   "--postgres", servers::get().postgres_url()},
                  log_);
      // Up, or gone: a node that exited (a bad port, a bad config) says why now.
      if (eventually([&] { return count_of(slurp(log_), "try it") > starts_ || !proc_.running(); },
                     60s) &&
          proc_.running()) {
        ++starts_;
        return;
      }
      if (proc_.running())
        throw std::runtime_error("wtcached did not start in 60 s; log:\n" + slurp(log_));
      // A port picked free at construction can be taken by another program
      // (an ephemeral port of some connection) before the first start: pick
      // others. A restart keeps its ports, which its clients know.
      bool taken = count_of(slurp(log_), "the port is in use") > taken_before;
      if (starts_ > 0 || !taken || attempt == 4)
        throw std::runtime_error("wtcached did not start; log:\n" + slurp(log_));
      port_ = free_loopback_port();
      http_port_ = free_loopback_port();
    }
  }
  // The Redis it is started with (default: the test binary's).
  void use_redis(std::string url) { redis_url_ = std::move(url); }
  void kill() {
    proc_.signal(SIGKILL);
    proc_.wait();
  }
  int stop() { return proc_.stop(SIGTERM); }
  bool running() { return proc_.running(); }
  uint16_t port() const { return port_; }
  uint16_t http_port() const { return http_port_; }
  std::string log() const { return slurp(log_); }

  // A figure from INFO ("dirty_keys") or -1.
  long long info(const std::string& field) const {
    try {
      resp_client c(port_);
      auto value = info_field(c.cmd({"INFO"}).str, field);
      return value.empty() ? -1 : std::stoll(value);
    } catch (const std::exception&) {
      return -1;
    }
  }

private:
  static int count_of(const std::string& text, const std::string& what) {
    int n = 0;
    for (auto at = text.find(what); at != std::string::npos; at = text.find(what, at + 1))
      ++n;
    return n;
  }
  child_process proc_;
  std::string config_, log_, redis_url_;
  uint16_t port_ = 0;
  uint16_t http_port_ = 0;
  int starts_ = 0;
};

// Clients on a few keys, spread over the nodes: half writes of unique values,
// half reads; every operation goes into the history.
class load {
public:
  // `mixed`: writes go through SET's relatives and MULTI/EXEC too, not
  // only SET (write-through keys only).
  load(history& h, std::vector<const node*> nodes, std::vector<std::string> keys,
       std::function<std::string(const std::string&)> encode, int clients = 4, bool mixed = false)
    : h_(h), nodes_(std::move(nodes)), keys_(std::move(keys)), encode_(std::move(encode)),
      mixed_(mixed) {
    for (int t = 0; t < clients; ++t)
      threads_.emplace_back([this, t] { run(t); });
  }
  ~load() { stop(); }

  void stop() {
    stop_ = true;
    for (auto& t : threads_)
      if (t.joinable())
        t.join();
  }
  uint64_t completed() const { return completed_; }
  uint64_t succeeded() const { return succeeded_; }

private:
  void run(int t) {
    std::minstd_rand rng(static_cast<unsigned>(t * 7919 + 1));
    std::unique_ptr<resp_client> c;
    int seq = 0;
    auto port = nodes_[static_cast<std::size_t>(t) % nodes_.size()]->port();
    while (!stop_) {
      if (!c) {
        try {
          c = std::make_unique<resp_client>(port);
        } catch (const std::exception&) {
          // The node is down: try again shortly (load pacing, not a wait).
          std::this_thread::sleep_for(20ms);
          continue;
        }
      }
      operation op;
      op.key = keys_[rng() % keys_.size()];
      bool write = rng() % 2 == 0;
      op.kind = write ? operation::write : operation::read;
      if (write)
        op.value = "c" + std::to_string(t) + "-" + std::to_string(++seq);
      op.invoked = steady::now();
      if (write && mixed_ && rng() % 5 == 0) {
        if (!exec_two(*c, rng, std::move(op), t, seq))
          c.reset();  // the connection died
        continue;
      }
      try {
        auto r = !write  ? c->cmd({"GET", op.key})
                 : !mixed_ ? c->cmd({"SET", op.key, encode_(op.value)})
                           : mixed_write(*c, rng, op.key, encode_(op.value));
        if (r.is_error()) {
          op.result = write ? outcome_of_error(r.str) : outcome::failed;
        } else if (!write) {
          op.found = !r.is_nil();
          op.value = r.str;
        }
      } catch (const std::exception&) {
        op.result = write ? outcome::unknown : outcome::failed;  // the connection died
        c.reset();
      }
      op.completed = steady::now();
      if (!write && op.found && op.result == outcome::ok)
        op.value = decode(op.value);
      ++completed_;
      if (op.result == outcome::ok)
        ++succeeded_;
      h_.add(std::move(op));
    }
  }
  // One of the commands that set a key to a value, picked at random.
  static reply mixed_write(resp_client& c, std::minstd_rand& rng, const std::string& key,
                           const std::string& value) {
    switch (rng() % 5) {
      case 0: return c.cmd({"SETEX", key, "3600", value});
      case 1: return c.cmd({"SET", key, value, "EX", "3600"});
      case 2: return c.cmd({"GETSET", key, value});
      case 3: return c.cmd({"SET", key, value, "GET"});
      default: return c.cmd({"SET", key, value});
    }
  }

  // MULTI, SET of two keys, EXEC: both writes share the EXEC's outcome.
  // False when the connection died.
  bool exec_two(resp_client& c, std::minstd_rand& rng, operation first, int t, int& seq) {
    operation second = first;
    do
      second.key = keys_[rng() % keys_.size()];
    while (second.key == first.key);
    second.value = "c" + std::to_string(t) + "-" + std::to_string(++seq);
    outcome result = outcome::ok;
    outcome parts[2] = {outcome::ok, outcome::ok};
    bool died = false;
    try {
      c.append({"MULTI"});
      c.append({"SET", first.key, encode_(first.value)});
      c.append({"SET", second.key, encode_(second.value)});
      c.append({"EXEC"});
      c.flush();
      reply replies[4];
      for (auto& r : replies)
        r = c.read();
      auto& exec = replies[3];
      bool queued = replies[0].str == "OK" && replies[1].str == "QUEUED" &&
                    replies[2].str == "QUEUED";
      if (!queued)
        result = outcome::unknown;  // not queued as a transaction: judge it loosely
      else if (exec.is_error())
        result = outcome_of_error(exec.str);
      else if (exec.kind != reply::array || exec.elements.size() != 2)
        result = outcome::unknown;
      else
        for (int i = 0; i < 2; ++i) {  // each part answers for itself
          auto& e = exec.elements[static_cast<std::size_t>(i)];
          parts[i] = e.is_error() ? outcome_of_error(e.str)
                     : e.str == "OK" ? outcome::ok
                                     : outcome::unknown;
        }
    } catch (const std::exception&) {
      result = outcome::unknown;  // the connection died
      died = true;
    }
    int i = 0;
    for (auto* op : {&first, &second}) {
      op->result = result == outcome::ok ? parts[i++] : result;
      op->completed = steady::now();
      ++completed_;
      if (op->result == outcome::ok)
        ++succeeded_;
      h_.add(std::move(*op));
    }
    return !died;
  }

  std::string decode(const std::string& v) {
    // JSON string values come back quoted.
    if (v.size() >= 2 && v.front() == '"' && v.back() == '"')
      return v.substr(1, v.size() - 2);
    return v;
  }

  history& h_;
  std::vector<const node*> nodes_;
  std::vector<std::string> keys_;
  std::function<std::string(const std::string&)> encode_;
  bool mixed_ = false;
  std::vector<std::thread> threads_;
  std::atomic<bool> stop_{false};
  std::atomic<uint64_t> completed_{0}, succeeded_{0};
};

struct mode {
  const char* name;
  std::string prefix;  // of the keys
  std::string row_sql;  // $1: the key -> the value as text
  std::function<std::string(const std::string&)> encode;
};

inline const mode write_through{"write-through", "ft:",
                         "SELECT convert_from(value, 'UTF8') FROM wtcache_kv WHERE key = $1",
                         [](const std::string& v) { return v; }};
inline const mode write_behind{"write-behind", "cart:ft",
                        "SELECT items #>> '{}' FROM shopping_carts WHERE cart_id = $1",
                        [](const std::string& v) { return "\"" + v + "\""; }};

}  // namespace wtcache::test::fault
