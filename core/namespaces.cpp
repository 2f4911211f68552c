// Namespaces: key prefixes to tables, their SQL, and the key routing functions.
#include "core/namespaces.hpp"

#include <algorithm>
#include <stdexcept>

namespace wtcache {

const char* to_string(value_type t) {
  switch (t) {
    case value_type::text: return "text";
    case value_type::jsonb: return "jsonb";
    case value_type::bytea: return "bytea";
  }
  return "?";
}

const char* to_string(write_mode m) {
  return m == write_mode::write_through ? "write-through" : "write-behind";
}

const char* to_string(expiry_mode m) { return m == expiry_mode::value ? "value" : "cache"; }

bool is_plain_identifier(std::string_view s) {
  if (s.empty() || s.size() > 63)
    return false;
  auto alpha = [](char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'; };
  if (!alpha(s[0]))
    return false;
  return std::all_of(s.begin(), s.end(),
                     [&](char c) { return alpha(c) || (c >= '0' && c <= '9'); });
}

std::string quote_identifier(std::string_view s) {
  if (!is_plain_identifier(s))
    throw std::invalid_argument("not a plain identifier: " + std::string(s));
  // Unquoted identifiers fold to lower case in PostgreSQL; quoting the folded
  // name keeps "UserSessions" in a config meaning what psql would make of it.
  std::string out = "\"";
  for (char c : s)
    out += (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
  out += '"';
  return out;
}

namespace {

// What every upsert of a namespace writes: the key, value, version and touch
// columns (touched with now()), and its DO UPDATE SET list.
struct upsert_columns {
  std::string cols, touch_values, sets;
};

upsert_columns upsert_columns_of(const namespace_config& ns) {
  auto v = quote_identifier(ns.value_column);
  auto ver = quote_identifier(ns.version_column);
  upsert_columns u;
  u.cols = quote_identifier(ns.key_column) + ", " + v + ", " + ver;
  u.sets = v + " = EXCLUDED." + v + ", " + ver + " = EXCLUDED." + ver;
  for (auto& c : ns.touch_columns) {
    auto q = quote_identifier(c);
    u.cols += ", " + q;
    u.touch_values += ", now()";
    u.sets += ", " + q + " = EXCLUDED." + q;
  }
  // A plain SET leaves no expiry behind, as in Redis.
  if (ns.expiry == expiry_mode::value) {
    auto e = quote_identifier(ns.expires_column);
    u.cols += ", " + e;
    u.touch_values += ", NULL";
    u.sets += ", " + e + " = EXCLUDED." + e;
  }
  return u;
}

// The rows of a batched upsert, from unnest() as x(k, v, ...): the key and
// value cast to the columns' types (bytea arrives as hex), then the version
// `version_in`, then the touch columns; and the rest of the INSERT after
// its SELECT list's FROM: ON CONFLICT ... RETURNING the version.
struct batched_upsert {
  std::string insert_select, on_conflict;
};

batched_upsert batched_upsert_of(const namespace_config& ns, const std::string& key_type,
                                 const std::string& value_type, const std::string& version_in) {
  auto value_in = ns.type == value_type::bytea ? std::string("decode(x.v, 'hex')")
                                               : "x.v::" + value_type;
  auto u = upsert_columns_of(ns);
  return {"INSERT INTO " + quote_identifier(ns.table) + " (" + u.cols + ") SELECT x.k::" +
            key_type + ", " + value_in + ", " + version_in + u.touch_values,
          " ON CONFLICT (" + quote_identifier(ns.key_column) + ") DO UPDATE SET " + u.sets +
            " RETURNING " + quote_identifier(ns.version_column)};
}

}  // namespace

namespace_sql build_sql(const namespace_config& ns) {
  auto t = quote_identifier(ns.table);
  auto k = quote_identifier(ns.key_column);
  auto v = quote_identifier(ns.value_column);
  auto ver = quote_identifier(ns.version_column);
  // jsonb and other typed columns come back in their text form; bytea raw.
  std::string value_out = ns.type == value_type::bytea ? v : v + "::text";
  std::string next_version = std::string("nextval('") + version_sequence + "')";

  bool expiring = ns.expiry == expiry_mode::value;
  auto e = expiring ? quote_identifier(ns.expires_column) : std::string();
  auto expires_out = expiring ? "(extract(epoch from " + e + ") * 1000)::bigint"
                              : std::string("NULL::bigint");
  auto live = expiring ? " AND (" + e + " IS NULL OR " + e + " > clock_timestamp())"
                       : std::string();

  namespace_sql sql;
  sql.read = "SELECT " + value_out + ", " + ver + ", " + expires_out + ", " + now_ms_sql +
             " FROM " + t + " WHERE " + k + " = $1" + live;
  sql.row_for_write = std::string("SELECT ") + now_ms_sql +
                      ", r.found, r.v, r.ver, r.e FROM (SELECT 1) AS one LEFT JOIN (SELECT true AS found, " +
                      value_out + " AS v, " + ver + " AS ver, " + expires_out + " AS e FROM " + t +
                      " WHERE " + k + " = $1 FOR UPDATE) AS r ON true";

  // INSERT ... ON CONFLICT DO UPDATE of the key, value, version and touch
  // columns; `version` is the version's SQL expression.
  auto upsert = [&](const std::string& version, const std::string& into) {
    auto u = upsert_columns_of(ns);
    return "INSERT INTO " + into + " (" + u.cols + ") VALUES ($1, $2, " + version +
           u.touch_values + ") ON CONFLICT (" + k + ") DO UPDATE SET " + u.sets;
  };
  sql.upsert = upsert(next_version, t) + " RETURNING " + ver;
  // jsonb normalises its input ({"a":1} is stored as {"a": 1}); the cache must
  // hold what a read-through would return, so take the stored text back.
  if (ns.type == value_type::jsonb)
    sql.upsert += ", " + v + "::text";
  if (expiring) {
    // The same statement with the expiry bound as $3 instead of NULL.
    auto at = sql.upsert.rfind("NULL) ON CONFLICT");
    if (at == std::string::npos)
      throw std::logic_error("build_sql: the upsert has no expiry to bind");
    sql.upsert_expiring = sql.upsert;
    sql.upsert_expiring.replace(at, 4, "to_timestamp($3::bigint / 1000.0::float8)");
  }
  // Write-behind: the version comes with the change (drawn in Redis), and a
  // row only ever moves forward, so a replayed or reordered entry is a no-op.
  sql.apply_set = upsert("$3", t + " AS cur") + " WHERE cur." + ver + " IS NULL OR cur." + ver +
                  " < EXCLUDED." + ver + " RETURNING " +
                  (ns.type == value_type::jsonb ? v + "::text" : ver);
  if (expiring) {
    // expiry = "value": the value's expiry, bound as $4 (NULL: none).
    auto at = sql.apply_set.rfind("NULL) ON CONFLICT");
    if (at == std::string::npos)
      throw std::logic_error("build_sql: the write-behind upsert has no expiry to bind");
    sql.apply_set.replace(at, 4, "to_timestamp($4::bigint / 1000.0::float8)");
  }
  sql.count = "SELECT count(*) FROM " + t + (expiring ? " WHERE " + e + " IS NULL OR " + e +
                                                          " > clock_timestamp()"
                                                    : std::string());
  if (expiring)
    sql.expired_keys = "SELECT " + k + "::text FROM " + t + " WHERE " + e +
                       " <= clock_timestamp() ORDER BY " + e + " LIMIT $1";
  sql.read_at_version = "SELECT " + v + "::text FROM " + t + " WHERE " + k + " = $1 AND " + ver +
                        " = $2";
  sql.apply_del = "DELETE FROM " + t + " WHERE " + k + " = $1 AND (" + ver + " IS NULL OR " +
                  ver + " < $2)";
  // An expired row is deleted too, but not counted: it was absent already.
  sql.remove = "WITH d AS (DELETE FROM " + t + " WHERE " + k + " = $1 RETURNING " +
               (expiring ? e + " IS NULL OR " + e + " > clock_timestamp()" : std::string("true")) +
               " AS live) SELECT (SELECT count(*) FROM d WHERE live), " + next_version;
  return sql;
}

std::string build_multi_upsert(const namespace_config& ns, const std::string& key_type,
                               const std::string& value_type) {
  auto up = batched_upsert_of(ns, key_type, value_type, "x.ver");
  return up.insert_select + " FROM unnest($1::text[], $2::text[], $3::bigint[]) AS x(k, v, ver)" +
         up.on_conflict +
         (ns.type == value_type::jsonb ? ", " + quote_identifier(ns.value_column) + "::text"
                                       : std::string());
}

std::string build_batch_remove(const namespace_config& ns) {
  auto t = quote_identifier(ns.table);
  auto k = quote_identifier(ns.key_column);
  std::string live = "true";
  if (ns.expiry == expiry_mode::value) {
    auto e = "cur." + quote_identifier(ns.expires_column);
    live = e + " IS NULL OR " + e + " > clock_timestamp()";
  }
  return "WITH x AS MATERIALIZED (SELECT k, i FROM unnest($1::text[]) WITH ORDINALITY AS x(k, i)), "
         "d AS (DELETE FROM " + t + " AS cur USING x WHERE cur." + k + " = x.k RETURNING x.i, (" +
         live + ") AS live) SELECT CASE WHEN d.live THEN 1 ELSE 0 END, nextval('" +
         std::string(version_sequence) + "') FROM x LEFT JOIN d ON d.i = x.i ORDER BY x.i";
}

batch_apply_sql build_batch_apply(const namespace_config& ns, const std::string& key_type,
                                  const std::string& value_type) {
  auto t = quote_identifier(ns.table);
  auto k = quote_identifier(ns.key_column);
  auto v = quote_identifier(ns.value_column);
  auto ver = quote_identifier(ns.version_column);
  bool jsonb = ns.type == value_type::jsonb;
  auto u = upsert_columns_of(ns);
  auto values = u.touch_values;
  if (ns.expiry == expiry_mode::value) {
    // The last column is the expiry: the entry's, not NULL.
    const std::string none = ", NULL";
    if (values.size() < none.size() || values.compare(values.size() - none.size(), none.size(), none) != 0)
      throw std::logic_error("build_batch_apply: the upsert has no expiry to bind");
    values.resize(values.size() - none.size());
    values += ", to_timestamp(x.e / 1000.0::float8)";
  }
  auto value_in = ns.type == value_type::bytea ? std::string("decode(x.v, 'hex')")
                                               : "x.v::" + value_type;
  batch_apply_sql sql;
  sql.sets = "WITH x AS (SELECT * FROM unnest($1::text[], $2::text[], $3::bigint[], $4::bigint[]) "
             "AS x(k, v, ver, e)), w AS (INSERT INTO " + t + " AS cur (" + u.cols + ") SELECT x.k::" +
             key_type + ", " + value_in + ", x.ver" + values + " FROM x ON CONFLICT (" + k +
             ") DO UPDATE SET " + u.sets + " WHERE cur." + ver + " IS NULL OR cur." + ver +
             " < EXCLUDED." + ver + " RETURNING cur." + ver + " AS ver, " +
             (jsonb ? "cur." + v + "::text" : std::string("NULL::text")) + " AS stored) "
             "SELECT ver, stored FROM w";
  // A replay writes nothing; the statement's snapshot still shows the row
  // at its version, as stored.
  if (jsonb)
    sql.sets += " UNION ALL SELECT r." + ver + ", r." + v + "::text FROM x JOIN " + t + " AS r ON r." +
                k + " = x.k::" + key_type + " AND r." + ver + " = x.ver";
  sql.dels = "DELETE FROM " + t + " AS cur USING unnest($1::text[], $2::bigint[]) AS x(k, ver) WHERE cur." +
             k + " = x.k::" + key_type + " AND (cur." + ver + " IS NULL OR cur." + ver + " < x.ver)";
  return sql;
}

std::string build_key_page(const namespace_config& ns, const std::string& key_type,
                           bool with_expired) {
  auto k = quote_identifier(ns.key_column);
  std::string live;
  if (ns.expiry == expiry_mode::value && !with_expired) {
    auto e = quote_identifier(ns.expires_column);
    live = " AND (" + e + " IS NULL OR " + e + " > clock_timestamp())";
  }
  return "SELECT " + k + "::text FROM " + quote_identifier(ns.table) + " WHERE ($1::text IS NULL OR " +
         k + " > $1::text::" + key_type + ")" + live + " ORDER BY " + k + " LIMIT $2";
}

namespace {

// The locked upserts' common part: w, the upsert of the rows x (joined to
// their versions n by `join`), and what comes back: one row per version
// drawn, with the value as stored for jsonb.
std::string upsert_returning_versions(const namespace_config& ns, const std::string& key_type,
                                      const std::string& value_type, const std::string& rows,
                                      const std::string& order) {
  bool jsonb = ns.type == value_type::jsonb;
  auto up = batched_upsert_of(ns, key_type, value_type, "n.ver");
  return "w AS (" + up.insert_select + rows + up.on_conflict + " AS ver" +
         (jsonb ? ", " + quote_identifier(ns.value_column) + "::text AS stored" : std::string()) +
         ") SELECT n.ver" + (jsonb ? ", w.stored" : std::string()) +
         " FROM n LEFT JOIN w ON w.ver = n.ver" + order;
}

// For the upserts that go with their COMMIT: true while PostgreSQL's clock
// is short of the deadline `param` (Unix ms). Evaluated once the locks are
// taken, so a statement that reaches the server late (it was paused, or
// stalled) writes nothing, and its COMMIT commits nothing.
std::string before_deadline(const std::string& param) {
  return "clock_timestamp() < to_timestamp(" + param + "::bigint / 1000.0::float8) ";
}

}  // namespace

std::string build_locked_upsert(const namespace_config& ns, const std::string& key_type,
                                const std::string& value_type, bool wait) {
  // l: every lock (count() needs them all) before d draws any version.
  // The deadline is read once, in l's projection after the aggregate (so
  // after every lock): in d's WHERE it would be read per row, and could
  // pass halfway through the batch and write part of it.
  auto locks = wait ? std::string("SELECT count(pg_advisory_xact_lock(x)) AS taken ")
                    : "SELECT count(*) FILTER (WHERE NOT pg_try_advisory_xact_lock(x)) AS busy, " +
                        before_deadline("$6") + "AS in_time ";
  return "WITH l AS MATERIALIZED (" + locks + "FROM unnest($1::bigint[]) AS x), "
         "d AS MATERIALIZED (SELECT nextval('" + std::string(version_sequence) + "') AS ver "
         "FROM l, generate_series(1, $2::int) " + (wait ? "" : "WHERE l.busy = 0 AND l.in_time ") +
         "ORDER BY ver), "
         "n AS MATERIALIZED (SELECT ver, row_number() OVER (ORDER BY ver) AS i FROM d), " +
         upsert_returning_versions(
           ns, key_type, value_type,
           " FROM unnest($3::text[], $4::text[], $5::bigint[]) AS x(k, v, i) JOIN n ON n.i = x.i",
           " ORDER BY n.i");
}

std::string build_single_locked_upsert(const namespace_config& ns, const std::string& key_type,
                                       const std::string& value_type, bool wait) {
  // l takes the lock before n draws the version (both materialised, in
  // that order); without the lock n is empty and nothing is written.
  auto lock = wait ? std::string("SELECT pg_advisory_xact_lock($1::bigint)")
                   : std::string("SELECT pg_try_advisory_xact_lock($1::bigint) AS ok");
  return "WITH l AS MATERIALIZED (" + lock + "), "
         "n AS MATERIALIZED (SELECT nextval('" + std::string(version_sequence) + "') AS ver "
         "FROM l" + (wait ? "" : " WHERE l.ok AND " + before_deadline("$4")) + "), " +
         upsert_returning_versions(ns, key_type, value_type,
                                   " FROM (SELECT $2::text AS k, $3::text AS v) AS x, n", "");
}

namespace_table::namespace_table(std::vector<namespace_config> spaces)
  : spaces_(std::move(spaces)) {
  if (spaces_.empty() || !spaces_[0].prefix.empty())
    throw std::invalid_argument("namespace_table: the first namespace must be the default");
  for (std::size_t i = 0; i < spaces_.size(); ++i) {
    sql_.push_back(build_sql(spaces_[i]));
    if (i > 0)
      by_prefix_length_.push_back(i);
  }
  std::stable_sort(by_prefix_length_.begin(), by_prefix_length_.end(),
                   [&](std::size_t a, std::size_t b) {
                     return spaces_[a].prefix.size() > spaces_[b].prefix.size();
                   });
}

namespace_table::match namespace_table::resolve(std::string_view key) const {
  for (auto i : by_prefix_length_) {
    const auto& p = spaces_[i].prefix;
    if (key.size() >= p.size() && key.compare(0, p.size(), p) == 0)
      return {i, key.substr(p.size())};
  }
  return {0, key};
}

uint64_t stable_hash(std::string_view s, uint64_t seed) {
  uint64_t h = seed;
  for (unsigned char c : s) {
    h ^= c;
    h *= 1099511628211ull;
  }
  return h;
}

int64_t row_lock_id(std::string_view table, std::string_view id) {
  auto h = stable_hash(id, stable_hash(std::string_view("\0", 1), stable_hash(table)));
  return static_cast<int64_t>(h);
}

}  // namespace wtcache
