// The tables wtcached needs, created or checked at start, and migrate.
#include "app/schema.hpp"

#include <cstdlib>
#include <map>
#include <memory>

#include <libpq-fe.h>
#include <unistd.h>
#include <pqxx/pqxx>

#include "app/config.hpp"
#include "messages/errors.hpp"

namespace wtcache {

namespace {

// Serialises schema set-up between nodes starting at the same time.
constexpr long long schema_lock = 0x77746361636865LL;  // "wtcache"

std::string field_of(std::size_t i, const char* name) {
  return "namespace[" + std::to_string(i - 1) + "]." + name;
}

std::string folded(const std::string& ident) {
  auto q = quote_identifier(ident);
  return q.substr(1, q.size() - 2);
}

void create_owned_objects(pqxx::connection& c) {
  pqxx::work tx(c);
  tx.exec("SELECT pg_advisory_xact_lock(" + std::to_string(schema_lock) + ")");
  tx.exec(std::string("CREATE SEQUENCE IF NOT EXISTS ") + version_sequence);
  tx.exec("CREATE TABLE IF NOT EXISTS wtcache_kv ("
          "key text PRIMARY KEY, value bytea NOT NULL, version bigint NOT NULL, "
          "updated_at timestamptz NOT NULL DEFAULT now(), expires_at timestamptz)");
  // Tables made before values could expire: a nullable column, no rewrite.
  tx.exec("ALTER TABLE wtcache_kv ADD COLUMN IF NOT EXISTS expires_at timestamptz");
  // The reaper finds expired rows by this index, without reading the rest.
  tx.exec("CREATE INDEX IF NOT EXISTS wtcache_kv_expires_at ON wtcache_kv (expires_at) "
          "WHERE expires_at IS NOT NULL");
  // Where each SCAN cursor stopped: the namespace (by prefix) and its last
  // key. Any node can go on with a cursor; old ones are deleted as new ones
  // are made (actors/postgres_worker.cpp).
  tx.exec("CREATE TABLE IF NOT EXISTS wtcache_scan_cursors ("
          "id bigserial PRIMARY KEY, prefix text NOT NULL, after_key text, "
          "made_at timestamptz NOT NULL DEFAULT now())");
  // Write-behind entries PostgreSQL refused for good, with the reason.
  tx.exec("CREATE TABLE IF NOT EXISTS wtcache_dead_letters ("
          "id bigserial PRIMARY KEY, failed_at timestamptz NOT NULL DEFAULT now(), "
          "table_name text NOT NULL, key text NOT NULL, version bigint NOT NULL, "
          "operation text NOT NULL, value bytea, error text NOT NULL, "
          "UNIQUE (table_name, key, version))");
  // Write-through keys whose cache entry could not be invalidated before
  // their transaction committed (Redis unreachable): every node treats them
  // as dirty until one of them has written the tombstone and deleted the row.
  tx.exec("CREATE TABLE IF NOT EXISTS wtcache_dirty_keys ("
          "key text PRIMARY KEY, version bigint NOT NULL, "
          "marked_at timestamptz NOT NULL DEFAULT now())");
  tx.commit();
}

std::map<std::string, std::string> columns_of(pqxx::transaction_base& tx, const std::string& table) {
  std::map<std::string, std::string> cols;
  auto res = tx.exec_params(
    "SELECT a.attname, format_type(a.atttypid, a.atttypmod) FROM pg_attribute a "
    "WHERE a.attrelid = to_regclass($1) AND a.attnum > 0 AND NOT a.attisdropped",
    quote_identifier(table));
  for (auto row : res)
    cols[row[0].as<std::string>()] = row[1].as<std::string>();
  return cols;
}

std::unique_ptr<pqxx::connection> connect(const std::string& url) {
  try {
    return std::make_unique<pqxx::connection>(url);
  } catch (const std::exception& e) {
    std::string why = one_line(e.what());
    // libpq's reason is exact but terse: say where to look.
    if (why.find("certificate verify failed") != std::string::npos)
      why += " (the server's certificate is not signed by sslrootcert's CA)";
    else if (why.find("does not match host name") != std::string::npos)
      why += " (sslmode=verify-full: the URL's host must be in the certificate)";
    throw config_error("postgres", "cannot connect to " + redact_url(url) + ": " + why);
  }
}

// Throws config_error for the first thing wrong with namespace i's table.
void verify_namespace(pqxx::transaction_base& tx, std::size_t i, const namespace_config& ns) {
  auto exists = tx.exec_params("SELECT to_regclass($1) IS NOT NULL", quote_identifier(ns.table));
  if (!exists[0][0].as<bool>())
    throw config_error(field_of(i, "table"),
                       "table \"" + folded(ns.table) + "\" does not exist in the database");
  auto cols = columns_of(tx, ns.table);
  auto need = [&](const std::string& col, const char* field) -> const std::string& {
    auto it = cols.find(folded(col));
    if (it == cols.end())
      throw config_error(field_of(i, field), "table \"" + folded(ns.table) +
                                                 "\" has no column \"" + folded(col) + "\"");
    return it->second;
  };
  need(ns.key_column, "key_column");
  const auto& vtype = need(ns.value_column, "value_column");
  for (auto& t : ns.touch_columns)
    need(t, "touch_columns");
  if (ns.type == value_type::jsonb && vtype != "jsonb")
    throw config_error(field_of(i, "value_type"),
                       "\"jsonb\", but column \"" + folded(ns.value_column) + "\" is " + vtype);
  if (ns.type == value_type::bytea && vtype != "bytea")
    throw config_error(field_of(i, "value_type"),
                       "\"bytea\", but column \"" + folded(ns.value_column) + "\" is " + vtype);
  if (ns.type == value_type::text && vtype == "bytea")
    throw config_error(field_of(i, "value_type"),
                       "\"text\", but column \"" + folded(ns.value_column) +
                         "\" is bytea (use value_type = \"bytea\")");
  auto unique = tx.exec_params(
    "SELECT 1 FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid "
    "AND a.attnum = i.indkey[0] WHERE i.indrelid = to_regclass($1) AND i.indisunique "
    "AND i.indnkeyatts = 1 AND i.indpred IS NULL AND a.attname = $2",
    quote_identifier(ns.table), folded(ns.key_column));
  if (unique.empty())
    throw config_error(field_of(i, "key_column"),
                       "column \"" + folded(ns.key_column) + "\" of table \"" + folded(ns.table) +
                         "\" needs a primary key or unique index of its own");
  auto ver = cols.find(folded(ns.version_column));
  if (ver == cols.end())
    throw config_error(field_of(i, "table"),
                       "table \"" + folded(ns.table) + "\" has no version column \"" +
                         folded(ns.version_column) +
                         "\"; add it with: wtcached migrate --config FILE");
  if (ver->second != "bigint")
    throw config_error(field_of(i, "version_column"),
                       "column \"" + folded(ns.version_column) + "\" must be bigint, not " +
                         ver->second);
  if (ns.expiry != expiry_mode::value)
    return;
  auto exp = cols.find(folded(ns.expires_column));
  if (exp == cols.end())
    throw config_error(field_of(i, "expiry"),
                       "\"value\", but table \"" + folded(ns.table) + "\" has no column \"" +
                         folded(ns.expires_column) +
                         "\"; add it with: wtcached migrate --config FILE");
  if (exp->second != "timestamp with time zone")
    throw config_error(field_of(i, "expires_column"),
                       "column \"" + folded(ns.expires_column) + "\" must be timestamptz, not " +
                         exp->second);
}

}  // namespace

void prepare_schema(const std::string& url, const std::vector<namespace_config>& spaces) {
  auto c = connect(url);
  create_owned_objects(*c);
  pqxx::read_transaction tx(*c);
  for (std::size_t i = 1; i < spaces.size(); ++i)
    verify_namespace(tx, i, spaces[i]);
}

namespace {

// The sslmode libpq uses for `url`: the URL's, else PGSSLMODE's, else
// libpq's default (prefer); and the root certificate file it names, if any.
struct tls_request {
  std::string mode = "prefer";
  std::string rootcert;
};

tls_request tls_request_of(const std::string& url) {
  tls_request r;
  bool in_url = false;
  char* err = nullptr;
  if (auto* opts = PQconninfoParse(url.c_str(), &err)) {
    for (auto* o = opts; o->keyword; ++o) {
      if (!o->val || !*o->val)
        continue;
      if (std::string(o->keyword) == "sslmode")
        r.mode = o->val, in_url = true;
      else if (std::string(o->keyword) == "sslrootcert")
        r.rootcert = o->val;
    }
    PQconninfoFree(opts);
  }
  if (err)
    PQfreemem(err);
  auto env = [](const char* name) {
    auto v = std::getenv(name);
    return v && *v ? std::string(v) : std::string();
  };
  if (auto mode = env("PGSSLMODE"); !in_url && !mode.empty())
    r.mode = mode;
  if (r.rootcert.empty())
    r.rootcert = env("PGSSLROOTCERT");
  if (auto home = env("HOME"); r.rootcert.empty() && !home.empty())
    r.rootcert = home + "/.postgresql/root.crt";  // libpq's default place
  return r;
}

std::string tls_state(pqxx::transaction_base& tx, const std::string& url) {
  auto req = tls_request_of(url);
  const auto& mode = req.mode;
  auto row = tx.exec("SELECT ssl, coalesce(version, ''), coalesce(cipher, '') FROM pg_stat_ssl "
                     "WHERE pid = pg_backend_pid()");
  if (row.empty() || !row[0][0].as<bool>())
    return "no TLS, sslmode=" + mode;
  // libpq: with a root certificate file present, sslmode=require checks the
  // server's certificate as verify-ca does.
  bool root_file = ::access(req.rootcert.c_str(), R_OK) == 0;
  std::string verified =
    mode == "verify-full" ? "server certificate and host name verified"
    : mode == "verify-ca" || (mode == "require" && root_file)
      ? "server certificate verified, host name not"
      : "server certificate not verified";
  return "TLS " + row[0][1].as<std::string>() + " " + row[0][2].as<std::string>() +
         ", sslmode=" + mode + ": " + verified;
}

}  // namespace

schema_report check_schema(const std::string& url, const std::vector<namespace_config>& spaces) {
  auto c = connect(url);
  pqxx::read_transaction tx(*c);
  schema_report r;
  r.server_version = tx.exec("SHOW server_version")[0][0].as<std::string>();
  r.tls = tls_state(tx, url);
  r.owned_objects_exist =
    tx.exec("SELECT to_regclass('wtcache_kv') IS NOT NULL AND to_regclass('" +
            std::string(version_sequence) + "') IS NOT NULL")[0][0].as<bool>();
  for (std::size_t i = 1; i < spaces.size(); ++i) {
    std::string problem;
    try {
      verify_namespace(tx, i, spaces[i]);  // SELECTs only; a problem is a C++ throw
    } catch (const config_error& e) {
      problem = e.what();
    }
    r.namespaces.push_back({spaces[i].prefix, spaces[i].table, problem});
  }
  return r;
}

void raise_version_floor(const std::string& url, int64_t floor) {
  auto c = connect(url);
  pqxx::nontransaction tx(*c);
  // Only ever forward: versions other nodes draw meanwhile are far below a
  // clock reading, so this cannot hand out a number twice.
  tx.exec_params(std::string("SELECT setval('") + version_sequence + "', $1) WHERE (SELECT last_value FROM " +
                   version_sequence + ") < $1",
                 floor);
}

std::vector<std::string> migrate_schema(const std::string& url,
                                        const std::vector<namespace_config>& spaces) {
  auto c = connect(url);
  create_owned_objects(*c);
  std::vector<std::string> done;
  for (std::size_t i = 1; i < spaces.size(); ++i) {
    const auto& ns = spaces[i];
    pqxx::work tx(*c);
    auto exists = tx.exec_params("SELECT to_regclass($1) IS NOT NULL", quote_identifier(ns.table));
    if (!exists[0][0].as<bool>())
      throw config_error(field_of(i, "table"),
                         "table \"" + folded(ns.table) + "\" does not exist in the database");
    auto cols = columns_of(tx, ns.table);
    if (cols.count(folded(ns.version_column))) {
      done.push_back(folded(ns.table) + ": version column \"" + folded(ns.version_column) +
                     "\" already present");
    } else {
      tx.exec("ALTER TABLE " + quote_identifier(ns.table) + " ADD COLUMN " +
              quote_identifier(ns.version_column) + " bigint NOT NULL DEFAULT 0");
      done.push_back(folded(ns.table) + ": added version column \"" +
                     folded(ns.version_column) + "\"");
    }
    if (ns.expiry == expiry_mode::value) {
      if (cols.count(folded(ns.expires_column))) {
        done.push_back(folded(ns.table) + ": expiry column \"" + folded(ns.expires_column) +
                       "\" already present");
      } else {
        tx.exec("ALTER TABLE " + quote_identifier(ns.table) + " ADD COLUMN " +
                quote_identifier(ns.expires_column) + " timestamptz");
        done.push_back(folded(ns.table) + ": added expiry column \"" +
                       folded(ns.expires_column) + "\"");
      }
      // The reaper looks for expired rows by this index, never by reading the table.
      auto index = folded(ns.table) + "_" + folded(ns.expires_column) + "_wtcache";
      if (index.size() > 63)
        index = "wtcache_expiry_" + std::to_string(i);
      tx.exec("CREATE INDEX IF NOT EXISTS " + quote_identifier(index) + " ON " +
              quote_identifier(ns.table) + " (" + quote_identifier(ns.expires_column) +
              ") WHERE " + quote_identifier(ns.expires_column) + " IS NOT NULL");
    }
    tx.commit();
  }
  return done;
}

}  // namespace wtcache
