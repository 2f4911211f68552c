// The shard gates of the service tests.
#include "tests/support/service_fixture.hpp"

#include <caf/send.hpp>

#include "messages/atoms.hpp"

namespace wtcache::test {

namespace {

// The test side of a shard hook: requests for armed keys are held until
// released; all others pass at once.
struct gate_state {
  std::set<std::string> armed;
  std::map<std::string, std::vector<caf::response_promise>> held;
  std::shared_ptr<std::atomic<int>> held_count;
};

caf::behavior gate(caf::stateful_actor<gate_state>* self, std::shared_ptr<std::atomic<int>> n) {
  self->state.held_count = n;
  return {
    [=](atom::gate, const std::string& key) -> caf::result<caf::ok_atom> {
      if (!self->state.armed.count(key))
        return caf::ok_atom::value;
      auto rp = self->make_response_promise();
      self->state.held[key].push_back(rp);
      ++*self->state.held_count;
      return caf::delegated<caf::ok_atom>{};
    },
    [=](caf::put_atom, const std::string& key) { self->state.armed.insert(key); },
    [=](caf::delete_atom, const std::string& key) {
      self->state.armed.erase(key);
      for (auto& rp : self->state.held[key])
        rp.deliver(caf::ok_atom::value);
      self->state.held.erase(key);
    },
  };
}

}  // namespace

void test_gate::arm(const std::string& key) { caf::anon_send(actor, caf::put_atom::value, key); }
void test_gate::release(const std::string& key) {
  caf::anon_send(actor, caf::delete_atom::value, key);
}

test_gate make_gate(caf::actor_system& sys) {
  test_gate g;
  g.actor = sys.spawn(gate, g.held);
  return g;
}

}  // namespace wtcache::test
