// Namespaces map client keys to database rows: "PREFIX + id" is the row whose
// key column equals id in the namespace's table. Keys that match no prefix go
// to the default namespace (table wtcache_kv). This file also builds each
// namespace's SQL once, from validated identifiers; values are always bound
// parameters, never pasted into the text.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace wtcache {

enum class value_type { text, jsonb, bytea };
enum class write_mode { write_through, write_behind };
// What a TTL bounds: the value itself (the row carries expires_at; an
// expired row is absent everywhere), or only the cache copy.
enum class expiry_mode { value, cache };

const char* to_string(value_type t);
const char* to_string(write_mode m);
const char* to_string(expiry_mode m);

struct namespace_config {
  std::string prefix;  // empty for the default namespace
  std::string table;
  std::string key_column = "key";
  std::string value_column = "value";
  std::string version_column = "version";
  value_type type = value_type::bytea;
  std::chrono::milliseconds ttl{0};  // 0: the cache default applies
  std::vector<std::string> touch_columns;
  write_mode mode = write_mode::write_through;
  expiry_mode expiry = expiry_mode::cache;
  std::string expires_column = "expires_at";  // timestamptz; expiry = "value" only
  // Write-through only. ack = "after-commit": a write is acknowledged once
  // committed, before its cache update (its entries are marked pending
  // before COMMIT, so no read is stale; a read right after it may read
  // through). Default ("after-cache-update"): after both.
  bool ack_after_commit = false;

  // Write-behind only. The queue is `writers` Redis Streams (a key always
  // goes to the same one), each drained by its own writer actor in batches
  // of up to batch_size entries, gathered for at most flush_interval.
  std::size_t batch_size = 500;
  std::chrono::milliseconds flush_interval{50};
  std::size_t writers = 2;
  // Queue limits over all its streams; at a limit writes get -BUSY until the
  // queue drains below low_watermark times both limits.
  std::size_t max_queue_entries = 100000;
  std::size_t max_queue_bytes = 128 * 1024 * 1024;
  double low_watermark = 0.8;
};

// The statements one namespace runs. Parameters: $1 the row id, $2 the value.
// Expiries travel as Unix milliseconds (bigint, NULL for none), and "now"
// is PostgreSQL's clock_timestamp(): one clock for every node.
struct namespace_sql {
  std::string read;    // -> value, version, expires, now (no live row: empty result)
  std::string upsert;  // -> version [, value as stored (jsonb)]; clears the expiry
  std::string remove;  // -> rows deleted, tombstone version
  // The row a write decides on, locked: -> now, found, value, version,
  // expires (one row, with found false and NULLs when there is none).
  std::string row_for_write;
  // expiry = "value": the upsert with $3 the expiry -> as `upsert`.
  std::string upsert_expiring;
  // The live rows: how many -> count.
  std::string count;
  // expiry = "value": up to $1 keys (as text) whose expiry has passed, oldest first.
  std::string expired_keys;
  // Write-behind apply, idempotent: only ever moves a row to a newer version.
  // $1 id, $2 value, $3 version, and for expiry = "value" $4 the expiry
  // (Unix ms, NULL none) -> [value as stored (jsonb)], no row when older
  std::string apply_set;
  // $1 id, $2 version: deletes the row unless it is at this version or newer
  std::string apply_del;
  // $1 id, $2 version -> value as text, if the row is at that version
  std::string read_at_version;
};

// A PostgreSQL identifier we accept from configuration: starts with a letter
// or underscore, then letters, digits, underscores; at most 63 bytes.
bool is_plain_identifier(std::string_view s);
std::string quote_identifier(std::string_view s);

namespace_sql build_sql(const namespace_config& ns);

// The SQL of PostgreSQL's clock in Unix milliseconds.
inline constexpr const char* now_ms_sql =
  "(extract(epoch from clock_timestamp()) * 1000)::bigint";

// Group commit's one statement for many SETs of a namespace: $1 keys, $2
// values (bytea: hex), $3 versions, as text/text/bigint arrays, one element
// per distinct key. `key_type` and `value_type` are the columns' types as
// PostgreSQL's format_type() names them (from the catalog, never from a
// client). Returns version [, value as stored, for jsonb] per row.
std::string build_multi_upsert(const namespace_config& ns, const std::string& key_type,
                               const std::string& value_type);

// Many DELs of one namespace whose key column is text, each key at most
// once, under the batch's locks: $1 keys (text[]) -> per key, in order, the
// rows deleted (0 or 1; an expired row counts 0, as in `remove`) and a
// tombstone version.
std::string build_batch_remove(const namespace_config& ns);

// Write-behind's batched apply, one statement for a batch's SETs and one
// for its DELs, each key at most once, idempotent as apply_set and
// apply_del are. Sets: $1 keys, $2 values (bytea: hex), $3 versions, $4
// expiries (Unix ms, NULL none; ignored unless expiry = "value") ->
// version, value as stored (jsonb; NULL otherwise) for each row written,
// and for jsonb also each row already at its version (a replay). Dels: $1
// keys, $2 versions. `key_type` and `value_type` as for build_multi_upsert.
struct batch_apply_sql {
  std::string sets, dels;
};
batch_apply_sql build_batch_apply(const namespace_config& ns, const std::string& key_type,
                                  const std::string& value_type);

// A page of the namespace's live keys, in key order: $1 the last key of
// the previous page as text (NULL: from the first), $2 how many -> key as
// text. `key_type` as for build_multi_upsert.
// `with_expired`: expired rows too (FLUSHDB removes them as well).
std::string build_key_page(const namespace_config& ns, const std::string& key_type,
                           bool with_expired = false);

// The same for a batch whose SETs are all in this namespace, with the row
// locks and the versions in the same statement (one round trip less): $1
// the advisory lock keys, $2 the number of SETs, $3 keys, $4 values, $5 for
// each row the (1-based) SET whose value it takes. Every lock is taken
// before any version is drawn, and SET i gets the i-th smallest version, so
// that versions follow each row's commit order across nodes. Returns one
// row per SET, in order: version [, the value as stored, for jsonb, on the
// rows written]. `wait = false`: a key's lock that is taken is not waited
// for; then nothing is written and no row comes back (so COMMIT can go in
// the same round trip: the statement never queues behind another writer of
// the key). It also writes nothing once PostgreSQL's clock has passed $6,
// the deadline in Unix ms: a statement that reaches the server late (paused,
// stalled) must not commit after the shard has given up on it and let the
// key's next write go ahead on another connection.
std::string build_locked_upsert(const namespace_config& ns, const std::string& key_type,
                                const std::string& value_type, bool wait = true);
// The same for a batch of one SET, a lighter plan (no arrays, sorts or
// window): $1 the row lock, $2 the key, $3 the value (as text, hex for
// bytea), and for `wait = false` $4 the deadline. The same rows come back.
std::string build_single_locked_upsert(const namespace_config& ns, const std::string& key_type,
                                       const std::string& value_type, bool wait = true);

// The name of the sequence every version is drawn from.
inline constexpr const char* version_sequence = "wtcache_version";

// Finds the namespace of a key: the longest matching prefix, else the default.
class namespace_table {
public:
  // `spaces[0]` must be the default namespace (empty prefix).
  explicit namespace_table(std::vector<namespace_config> spaces);

  struct match {
    std::size_t index;
    std::string_view id;
  };
  match resolve(std::string_view key) const;

  const namespace_config& at(std::size_t i) const { return spaces_[i]; }
  const namespace_sql& sql(std::size_t i) const { return sql_[i]; }
  std::size_t size() const { return spaces_.size(); }

private:
  std::vector<namespace_config> spaces_;
  std::vector<namespace_sql> sql_;
  std::vector<std::size_t> by_prefix_length_;  // indexes, longest prefix first
};

// 64-bit FNV-1a: stable across processes and nodes (std::hash is not).
uint64_t stable_hash(std::string_view s, uint64_t seed = 14695981039346656037ull);

// The one key routing function: which shard owns a key.
inline std::size_t shard_of(std::string_view key, std::size_t shards) {
  return static_cast<std::size_t>(stable_hash(key) % shards);
}

// The session advisory lock held by the one writer (on any node) that
// drains a share of a write-behind namespace's streams, by the share's name.
// Every node must compute the same id.
inline int64_t stream_lock_id(const std::string& streams) {
  return static_cast<int64_t>(stable_hash("wtcache-writer:" + streams));
}

// The advisory lock id that serialises writes of one row across nodes.
int64_t row_lock_id(std::string_view table, std::string_view id);

}  // namespace wtcache
