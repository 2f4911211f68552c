// A Redis Cluster of the test's own.
#include "tests/support/redis_cluster.hpp"

#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>

#include "tests/support/resp_client.hpp"
#include "tests/support/servers.hpp"
#include "tests/support/text.hpp"

namespace wtcache::test {

namespace {


// A free port whose bus port (+ 10000) is free too, both below the kernel's
// ephemeral range (no outgoing connection is given them meanwhile).
uint16_t cluster_port() {
  unsigned lo = 32768;
  std::ifstream("/proc/sys/net/ipv4/ip_local_port_range") >> lo;
  for (int attempt = 0; attempt < 500; ++attempt) {
    auto port = free_loopback_port();
    if (port + 10000u < lo && loopback_port_free(static_cast<uint16_t>(port + 10000)))
      return port;
  }
  throw std::runtime_error("no free port with room for its cluster bus port");
}

std::string cluster_nodes(const std::vector<uint16_t>& ports) {
  for (auto p : ports) {
    try {
      resp_client c(p);
      auto r = c.cmd({"CLUSTER", "NODES"});
      if (r.kind == reply::bulk)
        return r.str;
    } catch (const std::exception&) {
    }
  }
  return {};
}

}  // namespace

redis_cluster::~redis_cluster() { stop(); }

void redis_cluster::start(const std::string& dir, int masters, int replicas) {
  dir_ = dir;
  std::filesystem::create_directories(dir_);
  std::vector<std::string> create = {"redis-cli", "--cluster", "create"};
  for (int i = 0; i < masters * (1 + replicas); ++i) {
    auto port = cluster_port();
    auto node_dir = dir_ + "/" + std::to_string(port);
    auto n = std::make_unique<embedded_redis>();
    n->start(node_dir, port,
             {"--cluster-enabled", "yes", "--cluster-config-file", node_dir + "/nodes.conf",
              "--cluster-node-timeout", "1500"});
    nodes_.push_back(std::move(n));
    ports_.push_back(port);
    create.push_back("127.0.0.1:" + std::to_string(port));
  }
  create.insert(create.end(), {"--cluster-replicas", std::to_string(replicas), "--cluster-yes"});
  run_command(create, dir_ + "/create.log");
  if (!wait_ok(std::chrono::seconds(30)))
    throw std::runtime_error("the cluster did not come up; CLUSTER NODES:\n" +
                             cluster_nodes(ports_));
}

void redis_cluster::stop() {
  for (auto& n : nodes_)
    if (n)
      n->stop();
  nodes_.clear();
}

void redis_cluster::restart(std::size_t i) {
  auto dir = nodes_[i]->dir();
  nodes_[i]->start(dir, ports_[i],
                   {"--cluster-enabled", "yes", "--cluster-config-file", dir + "/nodes.conf",
                    "--cluster-node-timeout", "1500"});
}

std::string redis_cluster::url() const {
  std::string out = "redis+cluster://";
  for (std::size_t i = 0; i < ports_.size(); ++i)
    out += (i ? "," : "") + std::string("127.0.0.1:") + std::to_string(ports_[i]);
  return out;
}

namespace {

// A line of CLUSTER NODES: id, port, flags, the master's id (or "-").
struct node_line {
  std::string id, flags, master;
  uint16_t port = 0;
  bool failing() const { return flags.find("fail") != std::string::npos; }
};

std::vector<node_line> node_lines(const std::vector<uint16_t>& ports) {
  std::vector<node_line> out;
  std::istringstream lines(cluster_nodes(ports));
  for (std::string line; std::getline(lines, line);) {
    std::istringstream words(line);
    node_line n;
    std::string addr;
    words >> n.id >> addr >> n.flags >> n.master;
    auto colon = addr.find(':');
    if (colon == std::string::npos)
      continue;
    n.port = static_cast<uint16_t>(std::stoi(addr.substr(colon + 1)));
    out.push_back(std::move(n));
  }
  return out;
}

}  // namespace

std::vector<uint16_t> redis_cluster::masters() const {
  std::vector<uint16_t> out;
  for (auto& n : node_lines(ports_))
    if (n.flags.find("master") != std::string::npos && !n.failing())
      out.push_back(n.port);
  return out;
}

std::vector<uint16_t> redis_cluster::replicas_of(uint16_t port) const {
  auto nodes = node_lines(ports_);
  std::string id;
  for (auto& n : nodes)
    if (n.port == port)
      id = n.id;
  std::vector<uint16_t> out;
  for (auto& n : nodes)
    if (!id.empty() && n.master == id && !n.failing())
      out.push_back(n.port);
  return out;
}

std::size_t redis_cluster::index_of(uint16_t port) const {
  for (std::size_t i = 0; i < ports_.size(); ++i)
    if (ports_[i] == port)
      return i;
  throw std::runtime_error("no node of the cluster on port " + std::to_string(port));
}

std::string redis_cluster::id_of(uint16_t port) const {
  resp_client c(port);
  return c.cmd({"CLUSTER", "MYID"}).str;
}

bool redis_cluster::ok() const {
  int answered = 0;
  for (auto p : ports_) {
    try {
      resp_client c(p);
      auto info = c.cmd({"CLUSTER", "INFO"}).str;
      if (info_field(info, "cluster_state") != "ok" || info_field(info, "cluster_slots_ok") != "16384")
        return false;
      // A replica that has not synced with its master yet would not take
      // over from it.
      auto replication = c.cmd({"INFO", "replication"}).str;
      if (info_field(replication, "role") == "slave" &&
          info_field(replication, "master_link_status") != "up")
        return false;
      ++answered;
    } catch (const std::exception&) {
    }
  }
  return answered > 0;
}

bool redis_cluster::wait_ok(std::chrono::milliseconds limit) const {
  return eventually([&] { return ok(); }, limit);
}

void redis_cluster::reshard(uint16_t from, uint16_t to, int slots) {
  run_command({"redis-cli", "--cluster", "reshard", "127.0.0.1:" + std::to_string(from),
               "--cluster-from", id_of(from), "--cluster-to", id_of(to), "--cluster-slots",
               std::to_string(slots), "--cluster-yes"},
              dir_ + "/reshard.log");
}

}  // namespace wtcache::test
