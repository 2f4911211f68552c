// Every atom the project defines, in one place (at most 10 characters each).
#pragma once

#include <caf/type_id.hpp>

namespace wtcache::atom {

using get = caf::get_atom;          // read a key / a cache entry / a row
using put = caf::put_atom;          // write a batch
using tick = caf::tick_atom;        // periodic work
using workers = caf::atom_constant<caf::atom("workers")>;    // pool membership changed
using committed = caf::atom_constant<caf::atom("committed")>;  // another shard wrote a key
using committed_batch = caf::atom_constant<caf::atom("cbatch")>;  // a shard's transaction committed
using version = caf::atom_constant<caf::atom("version")>;    // draw a fresh version
using gate = caf::atom_constant<caf::atom("gate")>;          // test hook: may I go on?
using respawn = caf::atom_constant<caf::atom("respawn")>;    // supervisor: restart a worker
using peers = caf::atom_constant<caf::atom("peers")>;        // the other shards of this node
using deadline = caf::atom_constant<caf::atom("deadline")>;  // a request's time is up
using enqueue = caf::atom_constant<caf::atom("enqueue")>;  // write-behind: cache + queue
using flush = caf::atom_constant<caf::atom("flush")>;      // drain write-behind queues
using resume = caf::atom_constant<caf::atom("resume")>;      // a connection may read again
using dirty = caf::atom_constant<caf::atom("dirty")>;        // keys another node could not invalidate
using clear = caf::atom_constant<caf::atom("clear")>;        // those keys are invalidated now
using release = caf::atom_constant<caf::atom("release")>;    // held replies may go out
using open = caf::atom_constant<caf::atom("open")>;          // a Redis connection for the cache reader
using ttl = caf::atom_constant<caf::atom("ttl")>;            // a row with its expiry
using scan = caf::atom_constant<caf::atom("scan")>;          // the keyspace (SCAN, KEYS...)
using probe = caf::atom_constant<caf::atom("probe")>;        // is the backend there? (readiness)
using idle = caf::atom_constant<caf::atom("idle")>;          // has a client been idle too long?
// The embedding API (messages/cache_api.hpp).
using del = caf::atom_constant<caf::atom("del")>;            // delete keys
using incr = caf::atom_constant<caf::atom("incr")>;          // add to a counter
using expire = caf::atom_constant<caf::atom("expire")>;      // set a key's expiry
using exec = caf::atom_constant<caf::atom("exec")>;          // a transaction of writes

}  // namespace wtcache::atom
