// A Redis Cluster of the test's own: redis-server processes on loopback
// ports (each with room for its bus port, the data port + 10000) under a
// directory, made a cluster by redis-cli --cluster create.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "app/embedded_servers.hpp"

namespace wtcache::test {

class redis_cluster {
public:
  ~redis_cluster();
  // `masters` masters, each with `replicas` replicas; returns once every
  // node says cluster_state:ok. Throws.
  void start(const std::string& dir, int masters, int replicas = 0);
  void stop();

  // redis+cluster://127.0.0.1:port,... (every node a seed).
  std::string url() const;
  std::size_t size() const { return nodes_.size(); }
  uint16_t port(std::size_t i) const { return ports_[i]; }
  embedded_redis& node(std::size_t i) { return *nodes_[i]; }
  // Starts node i again on its port with its data (and its nodes.conf).
  void restart(std::size_t i);
  // The node listening on `port`.
  std::size_t index_of(uint16_t port) const;

  // As the cluster says now (CLUSTER NODES of a node that answers).
  std::vector<uint16_t> masters() const;
  std::string id_of(uint16_t port) const;
  // The replicas of the master on `port` that are not failing.
  std::vector<uint16_t> replicas_of(uint16_t port) const;
  // Every node that answers says cluster_state:ok with every slot served,
  // and every replica among them is in sync with its master.
  bool ok() const;
  bool wait_ok(std::chrono::milliseconds limit = std::chrono::seconds(20)) const;

  // Moves `slots` slots from one master to another with their keys
  // (redis-cli --cluster reshard). Throws when it fails.
  void reshard(uint16_t from, uint16_t to, int slots);

private:
  std::string dir_;
  std::vector<std::unique_ptr<embedded_redis>> nodes_;
  std::vector<uint16_t> ports_;
};

}  // namespace wtcache::test
