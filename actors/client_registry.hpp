// The clients of one listener, for CLIENT ID, LIST, INFO and KILL: each
// connection enters itself when it starts and leaves when it ends. Shared
// by the listener's connections (front_end); guarded by a mutex, since
// connections run on CAF's multiplexer thread and INFO may read it from
// elsewhere.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <caf/actor.hpp>

namespace wtcache {

struct client_record {
  uint64_t id = 0;
  std::string addr, laddr;  // "ip:port"
  std::string name, lib_name, lib_ver;
  std::string user = "default";  // who it authenticated as
  std::chrono::steady_clock::time_point created, last_command;
  // The last command: its name in lower case when it is one we know, else
  // NULL as Redis shows it (the client chooses the bytes), and for CLIENT
  // its subcommand when that is a plain word. CLIENT LIST prints them.
  std::string last_command_name = "NULL", last_subcommand;
  bool in_multi = false;
  caf::actor actor;  // for CLIENT KILL
};

class client_registry {
public:
  // Enters a client; it is given its id. The connection keeps the record
  // and changes it through update(), without looking it up.
  std::shared_ptr<client_record> enter(client_record r) {
    std::lock_guard<std::mutex> lock(mutex_);
    r.id = ++last_id_;
    auto shared = std::make_shared<client_record>(std::move(r));
    clients_.emplace(shared->id, shared);
    return shared;
  }
  void leave(uint64_t id) {
    std::lock_guard<std::mutex> lock(mutex_);
    clients_.erase(id);
  }
  template <class F>
  void update(client_record& r, F f) {
    std::lock_guard<std::mutex> lock(mutex_);
    f(r);
  }
  std::vector<client_record> all() const {
    std::lock_guard<std::mutex> lock(mutex_);
    std::vector<client_record> out;
    for (auto& [id, r] : clients_)
      out.push_back(*r);
    return out;
  }

private:
  mutable std::mutex mutex_;
  std::map<uint64_t, std::shared_ptr<client_record>> clients_;
  uint64_t last_id_ = 0;
};

// One line of CLIENT LIST / CLIENT INFO, in Redis's field order (the
// fields wtcached has; sizes it does not track are 0).
std::string client_line(const client_record& r, std::chrono::steady_clock::time_point now);

}  // namespace wtcache
