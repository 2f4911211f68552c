// The PostgreSQL worker protocol.
//
//   (atom::put, std::vector<store_op>, deadline) -> std::vector<store_result>
//       One transaction: advisory locks on every row (sorted), then the ops in
//       order. Ops sharing a `group` (one client command) succeed or fail
//       together; a failed group rolls back to its savepoint and the others
//       still commit. A lost connection during COMMIT is ec::outcome_unknown.
//       Past `deadline` (steady-clock nanoseconds) nothing is started or
//       committed: the answer is ec::timeout and nothing was written.
//   (atom::get, uint32_t ns, std::string id, deadline) -> store_row
//   (atom::version) -> int64_t      a fresh version, above every committed one
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <caf/meta/type_name.hpp>
#include <caf/replies_to.hpp>
#include <caf/typed_actor.hpp>

#include "messages/atoms.hpp"

namespace wtcache {

enum class op_kind : uint8_t { set, del, incr };

struct store_op {
  op_kind kind = op_kind::set;
  uint32_t ns = 0;
  std::string id;     // the row's key (client key without the namespace prefix)
  std::string value;  // set: the value
  int64_t delta = 0;  // incr: the increment
  uint32_t group = 0;
};

template <class F>
typename F::result_type inspect(F& f, store_op& x) {
  return f(caf::meta::type_name("store_op"), x.kind, x.ns, x.id, x.value, x.delta, x.group);
}

struct store_result {
  std::string error;   // empty on success, else the client error line
  int64_t version = 0;  // the row's new version (del: the tombstone's)
  int64_t count = 0;    // del: rows deleted; incr: the new value
  bool has_value = false;  // `value` holds the value as stored (jsonb, incr)
  std::string value;
};

template <class F>
typename F::result_type inspect(F& f, store_result& x) {
  return f(caf::meta::type_name("store_result"), x.error, x.version, x.count, x.has_value,
           x.value);
}

struct store_row {
  bool found = false;
  int64_t version = 0;
  std::string value;
};

template <class F>
typename F::result_type inspect(F& f, store_row& x) {
  return f(caf::meta::type_name("store_row"), x.found, x.version, x.value);
}

// The PostgreSQL worker's interface (actors/postgres_worker.hpp).
using postgres_worker_actor = caf::typed_actor<
  // One transaction over the ops, by the deadline or not at all.
  caf::replies_to<atom::put, std::vector<store_op>, int64_t>::with<std::vector<store_result>>,
  // Reads one row of a namespace.
  caf::replies_to<atom::get, uint32_t, std::string, int64_t>::with<store_row>,
  // Draws a fresh version.
  caf::replies_to<atom::version>::with<int64_t>>;

}  // namespace wtcache
