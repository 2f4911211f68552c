// The cache, as a typed actor: what a host program that embeds wtcache
// talks to instead of RESP (service::cache() hands it out; app/client.hpp
// wraps it for blocking code and for std::future).
//
// Each request goes to the key's shard as the matching Redis command would,
// with the same semantics and promises (../shared/DESIGN.md): a write is
// answered once it is committed in PostgreSQL and its cache entry updated
// (write-through), or once it is durably queued (write-behind); a read
// after an answered write sees it, on every node; conditions (NX, XX, the
// old value) are decided under the row lock, never by the cache.
//
// Trust: the typed API is the host program's own, and runs with every
// right, as Redis's default user: [server] requirepass, [[user]] and their
// key patterns and read-only flag apply to RESP clients only. A host that
// serves untrusted callers through this API checks them itself.
//
// Deadlines: every request is answered within the service's
// request_timeout (config [server] request_timeout), by its result or by
// an error. A request may also carry the caller's own, shorter timeout.
//
// Errors are caf::errors of the category "wtcache" (messages/errors.hpp):
//   ec::client_error      the request is wrong (bad JSON for a jsonb column,
//                         a value over max_value_bytes, not an integer...);
//                         nothing changed. error_detail() is Redis's text.
//   ec::timeout           no answer in time; a read, so nothing changed.
//   ec::outcome_unknown   a write got no answer in time, or its commit's
//                         fate is unknown: it may or may not have applied.
//   ec::postgres_unavailable, ec::redis_unavailable, ec::postgres_error,
//   ec::redis_error       a backend failed (or its circuit is open); nothing
//                         changed.
//   ec::busy              a queue is full (write-behind); retry later.
//   ec::stopped           the service is stopping; nothing was sent.
//
// Order: requests in flight at the same time are independent, as commands
// on different Redis connections are (a DEL of keys on two shards and a
// SET of one of them, sent together, may apply in either order). Wait for
// a write's answer before a request that must see it or come after it.
//
// Sizes: a DEL or a transaction of more than 10000 keys is refused
// (ec::client_error), as RESP's MULTI queue is; an MGET keeps at most 256
// lookups in flight. A key is at most max_value_bytes long.
//
// Values are bytes (std::string as a byte buffer, NUL bytes allowed in
// bytea columns); they are moved, not copied, on their way to the workers.
//
// Costs, as for the RESP commands (measured with wtcache_bench): a get that
// hits the cache is one Redis round trip through a Redis worker; a miss
// adds one PostgreSQL read and a fenced fill. A write-through write joins
// the shard's next group commit (one PostgreSQL transaction for every
// write waiting, plus two fenced Redis writes): about one fsync'ed commit
// of latency, shared. A write-behind write is one Redis script call. mget
// and del over several keys send one request per key (mget) or one
// transaction (del) and answer when the last is in.
//
// Thread safety: a cache_actor handle may be copied and used from any
// actor or thread at once; the actor behind it never blocks.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <caf/meta/type_name.hpp>
#include <caf/replies_to.hpp>
#include <caf/typed_actor.hpp>

#include "atoms.hpp"

namespace wtcache {

// A value, or none: GET's answer.
struct cache_value {
  bool found = false;
  std::string bytes;
};

template <class F>
typename F::result_type inspect(F& f, cache_value& x) {
  return f(caf::meta::type_name("cache_value"), x.found, x.bytes);
}

// SET's options, as SET key value [NX|XX] [GET] [PX ms|KEEPTTL] has them.
struct set_options {
  enum condition : uint8_t { always = 0, if_absent = 1, if_present = 2 };
  uint8_t when = always;
  // Milliseconds until the value expires (PX); 0: it does not (with
  // expiry = "cache", the cache copy gets the namespace's TTL).
  int64_t ttl_ms = 0;
  bool keep_ttl = false;  // KEEPTTL: the key keeps the expiry it had
  bool get_old = false;   // GET: answer the value the key held
};

template <class F>
typename F::result_type inspect(F& f, set_options& x) {
  return f(caf::meta::type_name("set_options"), x.when, x.ttl_ms, x.keep_ttl, x.get_old);
}

// What a SET did.
struct set_result {
  bool applied = false;  // false: NX or XX did not hold, nothing changed
  cache_value old;       // the value it held (with get_old)
  int64_t version = 0;   // the row's new version (write-through, when applied)
};

template <class F>
typename F::result_type inspect(F& f, set_result& x) {
  return f(caf::meta::type_name("set_result"), x.applied, x.old, x.version);
}

// One write of a transaction.
struct txn_op {
  enum kind_t : uint8_t { set = 0, del = 1, incrby = 2, expire = 3 };
  uint8_t kind = set;
  std::string key;
  std::string value;   // set
  int64_t number = 0;  // incrby: the delta; expire: milliseconds from now
  set_options options; // set
};

template <class F>
typename F::result_type inspect(F& f, txn_op& x) {
  return f(caf::meta::type_name("txn_op"), x.kind, x.key, x.value, x.number, x.options);
}

// One write's outcome inside a transaction. As in Redis's EXEC, a write
// that fails (INCRBY of a value that is not an integer) fails alone and
// the others still apply; `error` then holds Redis's error text.
struct txn_result {
  bool applied = false;  // set: the condition held; del: a key was deleted; expire: it took
  int64_t number = 0;    // set: the version; del: rows deleted; incrby: the new value
  cache_value old;       // set with get_old
  std::string error;     // empty unless this write failed
};

template <class F>
typename F::result_type inspect(F& f, txn_result& x) {
  return f(caf::meta::type_name("txn_result"), x.applied, x.number, x.old, x.error);
}

using cache_actor = caf::typed_actor<
  // GET key: the value, or found = false.
  caf::replies_to<atom::get, std::string>::with<cache_value>,
  // MGET keys: one answer per key, in order.
  caf::replies_to<atom::get, std::vector<std::string>>::with<std::vector<cache_value>>,
  // SET key value [options].
  caf::replies_to<atom::put, std::string, std::string, set_options>::with<set_result>,
  // DEL keys: how many existed. Keys over several shards are deleted in
  // one transaction.
  caf::replies_to<atom::del, std::vector<std::string>>::with<int64_t>,
  // INCRBY key delta: the new value (ec::client_error if the value is not
  // an integer, or the sum overflows). The key keeps its expiry.
  caf::replies_to<atom::incr, std::string, int64_t>::with<int64_t>,
  // PEXPIRE key ms: true if the key exists (and now expires); ms <= 0
  // deletes it. With expiry = "cache", only the cache copy's TTL changes.
  caf::replies_to<atom::expire, std::string, int64_t>::with<bool>,
  // PTTL key: milliseconds left, -1 when it does not expire, -2 when absent.
  // With expiry = "cache", -1 for every present key (the value never expires).
  caf::replies_to<atom::ttl, std::string>::with<int64_t>,
  // MULTI ... EXEC: the writes as one PostgreSQL transaction, across
  // shards; one result per write. All keys write-through, or all
  // write-behind (ec::client_error otherwise).
  caf::replies_to<atom::exec, std::vector<txn_op>>::with<std::vector<txn_result>>>;

}  // namespace wtcache
