// Configuration loading: command line (CLI11), environment and TOML into core/config.hpp.
#include "app/config.hpp"

#include <algorithm>
#include <charconv>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <set>
#include <tuple>
#include <sstream>

#include <sys/stat.h>

#include <CLI/CLI.hpp>
#include <spdlog/spdlog.h>
#include <toml++/toml.h>

#include "core/ascii.hpp"

namespace wtcache {

namespace {

std::string toml_key(const std::string& key) {
  auto bare = [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '-';
  };
  if (!key.empty() && std::all_of(key.begin(), key.end(), bare))
    return key;
  std::string out = "\"";
  for (unsigned char c : key) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c < 0x20 || c == 0x7f) {
      char hex[8];
      std::snprintf(hex, sizeof hex, "\\u%04x", c);
      out += hex;
    } else {
      out += static_cast<char>(c);
    }
  }
  return out + "\"";
}

// Reads one TOML table, remembering which keys were used so that anything
// left over is reported as unknown: a typo must not silently do nothing.
class section {
public:
  section(const toml::table* tbl, std::string path) : tbl_(tbl), path_(std::move(path)) {}

  // The key as TOML writes it: bare if it can be, else quoted, so that an
  // empty or dotted key still reads as one field (server."", "a.b").
  std::string field(const std::string& key) const {
    auto name = toml_key(key);
    return path_.empty() ? name : path_ + "." + name;
  }

  const toml::node* get(const std::string& key) {
    used_.insert(key);
    return tbl_ ? tbl_->get(key) : nullptr;
  }

  void read(const std::string& key, std::string& out) {
    if (auto n = get(key)) {
      if (!n->is_string())
        throw config_error(field(key), "expected a string");
      out = n->as_string()->get();
    }
  }

  int64_t read_int(const std::string& key, int64_t fallback, int64_t lo, int64_t hi) {
    auto n = get(key);
    if (!n)
      return fallback;
    if (!n->is_integer())
      throw config_error(field(key), "expected an integer");
    auto v = n->as_integer()->get();
    if (v < lo || v > hi)
      throw config_error(field(key), "must be between " + std::to_string(lo) + " and " +
                                         std::to_string(hi) + ", got " + std::to_string(v));
    return v;
  }

  void read(const std::string& key, std::size_t& out, int64_t lo, int64_t hi) {
    out = static_cast<std::size_t>(read_int(key, static_cast<int64_t>(out), lo, hi));
  }

  void read_ms(const std::string& key, std::chrono::milliseconds& out, int64_t lo, int64_t hi) {
    out = std::chrono::milliseconds(read_int(key, out.count(), lo, hi));
  }

  void read_seconds(const std::string& key, std::chrono::milliseconds& out, int64_t lo,
                    int64_t hi) {
    auto s = read_int(key, out.count() / 1000, lo, hi);
    out = std::chrono::milliseconds(s * 1000);
  }

  void read(const std::string& key, bool& out) {
    if (auto n = get(key)) {
      if (!n->is_boolean())
        throw config_error(field(key), "expected true or false");
      out = n->as_boolean()->get();
    }
  }

  void read(const std::string& key, double& out, double lo, double hi) {
    auto n = get(key);
    if (!n)
      return;
    if (n->is_integer())
      out = static_cast<double>(n->as_integer()->get());
    else if (n->is_floating_point())
      out = n->as_floating_point()->get();
    else
      throw config_error(field(key), "expected a number");
    if (out < lo || out > hi)
      throw config_error(field(key), "must be between " + std::to_string(lo) + " and " +
                                         std::to_string(hi));
  }

  // One of two words; the first is the default.
  std::string read_choice(const std::string& key, const std::string& first,
                          const std::string& second) {
    std::string value = first;
    read(key, value);
    if (value != first && value != second)
      throw config_error(field(key), "must be \"" + first + "\" or \"" + second + "\", got \"" +
                                       value + "\"");
    return value;
  }

  void read_identifier(const std::string& key, std::string& out, bool required) {
    auto n = get(key);
    if (!n) {
      if (required)
        throw config_error(field(key), "is required");
      return;
    }
    if (!n->is_string())
      throw config_error(field(key), "expected a string");
    out = n->as_string()->get();
    if (!is_plain_identifier(out))
      throw config_error(field(key), "\"" + out +
                                         "\" is not a plain identifier (letters, digits and "
                                         "underscores, not starting with a digit, at most 63)");
  }

  void reject_unknown() const {
    if (!tbl_)
      return;
    for (auto&& [k, v] : *tbl_) {
      std::string key(k.str());
      if (!used_.count(key))
        throw config_error(field(key), "unknown key");
    }
  }

private:
  const toml::table* tbl_;
  std::string path_;
  std::set<std::string> used_;
};

std::pair<std::string, uint16_t> parse_host_port(const std::string& value,
                                                 const std::string& field) {
  auto colon = value.rfind(':');
  if (colon == std::string::npos || colon == 0)
    throw config_error(field, "expected HOST:PORT, got \"" + value + "\"");
  auto port = parse_port(value.substr(colon + 1), field, true);
  return {value.substr(0, colon), port};
}

void parse_listen(const std::string& value, const std::string& field, config& cfg) {
  std::tie(cfg.listen_host, cfg.listen_port) = parse_host_port(value, field);
}

// HOST:PORT, or "" for no HTTP endpoint.
void parse_http_listen(const std::string& value, const std::string& field, config& cfg) {
  cfg.http_enabled = !value.empty();
  if (cfg.http_enabled)
    std::tie(cfg.http_host, cfg.http_port) = parse_host_port(value, field);
}

// The whole of a file; a config_error of `field` if it cannot be read.
std::string read_file(const std::string& path, const std::string& field = "--config") {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec))
    throw config_error(field, "cannot read " + path + " (not a file)");
  std::ifstream in(path, std::ios::binary);
  std::ostringstream ss;
  if (!in || !(ss << in.rdbuf()) || in.bad())
    throw config_error(field, "cannot read " + path);
  return ss.str();
}

// Each table of the array of tables `name` ([[name]]), with its path
// ("name[i]") for messages.
template <class F>
void for_each_table(section& top, const std::string& name, F f) {
  auto n = top.get(name);
  if (!n)
    return;
  auto arr = n->as_array();
  if (!arr)
    throw config_error(name, "expected [[" + name + "]] tables");
  for (std::size_t i = 0; i < arr->size(); ++i) {
    auto path = name + "[" + std::to_string(i) + "]";
    auto t = (*arr)[i].as_table();
    if (!t)
      throw config_error(path, "expected a table");
    f(*t, path);
  }
}

// A password of the configuration, as its SHA-256 digest; "" when none is
// given. `base` names the keys: <base>_sha256 (the digest), <base>_file (a
// file holding the password; one trailing newline is dropped), <base>_env
// (an environment variable holding it), and, if `plain_allowed`, <base>
// itself (the password as text). At most one of them.
std::string read_secret(section& s, const std::string& base, bool plain_allowed) {
  std::string plain, digest, file, env;
  std::vector<std::string> given;
  auto take = [&](const std::string& key, std::string& out) {
    s.read(key, out);
    if (s.get(key))
      given.push_back(s.field(key));
  };
  if (plain_allowed)
    take(base, plain);
  take(base + "_sha256", digest);
  take(base + "_file", file);
  take(base + "_env", env);
  if (given.size() > 1)
    throw config_error(given[1], "give only one of " + given[0] + " and " + given[1]);
  // An empty requirepass is no password, as in Redis.
  if (given.empty() || (given.front() == s.field(base) && plain.empty()))
    return {};
  const auto& field = given.front();
  if (field == s.field(base + "_sha256")) {
    if (!is_sha256_hex(digest))
      throw config_error(field, "expected the password's SHA-256 digest as 64 hex digits "
                                "(printf %s \"$password\" | sha256sum)");
    return lowered(digest);
  }
  std::string password = plain;
  if (field == s.field(base + "_file")) {
    password = read_file(file, field);
    if (!password.empty() && password.back() == '\n')
      password.pop_back();
    if (!password.empty() && password.back() == '\r')
      password.pop_back();
  } else if (field == s.field(base + "_env")) {
    auto v = std::getenv(env.c_str());
    if (!v)
      throw config_error(field, "the environment variable " + env + " is not set");
    password = v;
  }
  if (password.empty())
    throw config_error(field, "the password is empty");
  return sha256_hex(password);
}

user_config parse_user(const toml::table& t, const std::string& path) {
  section s(&t, path);
  user_config u;
  s.read("name", u.name);
  if (u.name.empty())
    throw config_error(s.field("name"), "is required");
  if (u.name == "default")
    throw config_error(s.field("name"), "\"default\" is the user of server.requirepass");
  if (!std::all_of(u.name.begin(), u.name.end(), [](char c) { return c > ' ' && c <= '~'; }))
    throw config_error(s.field("name"), "must be printable, without spaces");
  u.password_sha256 = read_secret(s, "password", false);
  if (u.password_sha256.empty())
    throw config_error(s.field("password_sha256"),
                       "a user needs a password: password_sha256, password_file or password_env");
  s.read("read_only", u.read_only);
  if (auto n = s.get("keys")) {
    auto arr = n->as_array();
    if (!arr)
      throw config_error(s.field("keys"), "expected a list of key patterns, e.g. [\"session:*\"]");
    u.keys.clear();
    for (auto& k : *arr) {
      if (!k.is_string())
        throw config_error(s.field("keys"), "expected strings");
      u.keys.push_back(k.as_string()->get());
    }
  }
  s.reject_unknown();
  return u;
}

}  // namespace

namespace_config default_namespace() {
  namespace_config ns;
  ns.prefix = "";
  ns.table = "wtcache_kv";
  ns.type = value_type::bytea;
  ns.touch_columns = {"updated_at"};
  ns.expiry = expiry_mode::value;  // as Redis: an expired key is gone
  return ns;
}

namespace {

using field_namer = std::function<std::string(const std::string&)>;

// Every column is named once in the INSERT: no two may be the same
// (PostgreSQL folds unquoted names to lower case, and so do we).
void check_distinct_columns(const namespace_config& ns, const field_namer& field) {
  std::vector<std::pair<std::string, std::string>> cols = {
    {"key_column", ns.key_column}, {"value_column", ns.value_column},
    {"version_column", ns.version_column}};
  for (auto& c : ns.touch_columns)
    cols.emplace_back("touch_columns", c);
  if (ns.expiry == expiry_mode::value)
    cols.emplace_back("expires_column", ns.expires_column);
  for (std::size_t i = 0; i < cols.size(); ++i)
    for (std::size_t j = 0; j < i; ++j)
      if (quote_identifier(cols[i].second) == quote_identifier(cols[j].second))
        throw config_error(field(cols[i].first), "column \"" + cols[i].second +
                                                   "\" is already used as " + cols[j].first);
}

// A namespace beside the `count` before it in `all`: a prefix of its own,
// and a table of its own if either is write-behind (a write-behind queue
// is named after its table).
void check_beside(const std::vector<namespace_config>& all, std::size_t count,
                  const namespace_config& ns, const field_namer& field) {
  for (std::size_t j = 0; j < count; ++j)
    if (all[j].prefix == ns.prefix)
      throw config_error(field("prefix"), "\"" + ns.prefix + "\" is used twice");
  for (std::size_t j = 0; j < count; ++j)
    if (all[j].table == ns.table &&
        (all[j].mode == write_mode::write_behind || ns.mode == write_mode::write_behind))
      throw config_error(field("table"), "\"" + ns.table +
                                           "\" already belongs to another namespace; a "
                                           "write-behind table cannot be shared");
}

namespace_config parse_namespace(const toml::table& t, const std::string& path,
                                 bool ack_after_commit) {
  section s(&t, path);
  namespace_config ns;
  ns.ack_after_commit = ack_after_commit;
  s.read("prefix", ns.prefix);
  if (ns.prefix.empty())
    throw config_error(s.field("prefix"), "is required and must not be empty");
  s.read_identifier("table", ns.table, true);
  s.read_identifier("key_column", ns.key_column, true);
  s.read_identifier("value_column", ns.value_column, true);
  s.read_identifier("version_column", ns.version_column, false);
  std::string type = "text";
  s.read("value_type", type);
  if (type == "text") ns.type = value_type::text;
  else if (type == "jsonb") ns.type = value_type::jsonb;
  else if (type == "bytea") ns.type = value_type::bytea;
  else throw config_error(s.field("value_type"), "must be \"text\", \"jsonb\" or \"bytea\", got \"" + type + "\"");
  s.read_seconds("ttl", ns.ttl, 0, 365LL * 24 * 3600);
  if (auto n = s.get("touch_columns")) {
    auto arr = n->as_array();
    if (!arr)
      throw config_error(s.field("touch_columns"), "expected an array of column names");
    for (std::size_t i = 0; i < arr->size(); ++i) {
      auto f = s.field("touch_columns") + "[" + std::to_string(i) + "]";
      auto str = (*arr)[i].as_string();
      if (!str)
        throw config_error(f, "expected a string");
      if (!is_plain_identifier(str->get()))
        throw config_error(f, "\"" + str->get() + "\" is not a plain identifier");
      ns.touch_columns.push_back(str->get());
    }
  }
  std::string mode = "write-through";
  s.read("mode", mode);
  if (mode == "write-through")
    ns.mode = write_mode::write_through;
  else if (mode == "write-behind")
    ns.mode = write_mode::write_behind;
  else
    throw config_error(s.field("mode"), "must be \"write-through\" or \"write-behind\", got \"" +
                                          mode + "\"");
  // Mapped tables default to "cache": deleting a user's rows when a TTL
  // passes must be chosen explicitly.
  std::string expiry = "cache";
  s.read("expiry", expiry);
  if (expiry == "value")
    ns.expiry = expiry_mode::value;
  else if (expiry != "cache")
    throw config_error(s.field("expiry"), "must be \"value\" or \"cache\", got \"" + expiry + "\"");
  s.read_identifier("expires_column", ns.expires_column, false);
  if (s.get("expires_column") && ns.expiry != expiry_mode::value)
    throw config_error(s.field("expires_column"), "applies to expiry = \"value\" only");
  s.read("batch_size", ns.batch_size, 1, 100000);
  s.read_ms("flush_interval_ms", ns.flush_interval, 1, 60 * 1000);
  s.read("writers", ns.writers, 1, 64);
  s.read("max_queue_entries", ns.max_queue_entries, 1, 1000000000LL);
  s.read("max_queue_bytes", ns.max_queue_bytes, 1024, 1LL << 40);
  s.read("low_watermark", ns.low_watermark, 0.0, 1.0);
  if (ns.mode == write_mode::write_through)
    for (auto* k : {"batch_size", "flush_interval_ms", "writers", "max_queue_entries",
                    "max_queue_bytes", "low_watermark"})
      if (s.get(k))
        throw config_error(s.field(k), "applies to mode = \"write-behind\" only");
  if (s.get("ack")) {
    if (ns.mode == write_mode::write_behind)
      throw config_error(s.field("ack"), "applies to mode = \"write-through\" only (write-behind "
                                         "acknowledges once the queue entry is in)");
    ns.ack_after_commit = s.read_choice("ack", "after-cache-update", "after-commit") == "after-commit";
  }
  if (ns.mode == write_mode::write_behind)
    ns.ack_after_commit = false;
  s.reject_unknown();
  check_distinct_columns(ns, [&](const std::string& name) { return s.field(name); });
  return ns;
}


}  // namespace

namespace {

// The file's settings, each checked, but not yet what spans fields: the
// command line may still change them (a --listen on loopback satisfies
// protected mode).
config parse_unvalidated(const std::string& text, const std::string& source) {
  toml::table root;
  try {
    root = toml::parse(text, source);
  } catch (const toml::parse_error& e) {
    std::ostringstream msg;
    msg << e.description() << " (line " << e.source().begin.line << ")";
    throw config_error(source, msg.str());
  }
  config cfg;
  cfg.namespaces.push_back(default_namespace());
  section top(&root, "");
  auto sub = [&](const char* name) {
    auto n = top.get(name);
    if (n && !n->is_table())
      throw config_error(name, "expected a table");
    return section(n ? n->as_table() : nullptr, name);
  };

  auto server = sub("server");
  std::string listen;
  server.read("listen", listen);
  if (!listen.empty())
    parse_listen(listen, "server.listen", cfg);
  server.read("shards", cfg.shards, 1, 1024);
  server.read_ms("request_timeout_ms", cfg.request_timeout, 10, 3600 * 1000);
  server.read("max_value_bytes", cfg.max_value_bytes, 1, 512LL * 1024 * 1024);
  server.read("max_pipeline", cfg.max_pipeline, 1, 1 << 20);
  server.read("max_reply_buffer_bytes", cfg.max_reply_buffer_bytes, 1024 * 1024,
              64LL * 1024 * 1024 * 1024);
  server.read("max_batch_ops", cfg.max_batch_ops, 1, 100000);
  server.read("max_queued_writes", cfg.max_queued_writes, 1, 10000000);
  server.read("data_dir", cfg.data_dir);
  server.read("allow_flush", cfg.allow_flush);
  server.read_ms("shutdown_grace_ms", cfg.shutdown_grace, 0, 3600 * 1000);
  cfg.requirepass_sha256 = read_secret(server, "requirepass", true);
  server.read("protected_mode", cfg.protected_mode);
  server.read("maxclients", cfg.maxclients, 1, 1000000);
  std::chrono::milliseconds idle = cfg.idle_timeout;
  server.read_seconds("timeout", idle, 0, 365LL * 24 * 3600);
  cfg.idle_timeout = std::chrono::duration_cast<std::chrono::seconds>(idle);
  server.reject_unknown();

  auto http = sub("http");
  std::string http_listen = cfg.http_host + ":" + std::to_string(cfg.http_port);
  http.read("listen", http_listen);
  parse_http_listen(http_listen, "http.listen", cfg);
  http.reject_unknown();

  auto redis = sub("redis");
  redis.read("cluster", cfg.redis_cluster);
  if (auto* url = redis.get("url"); url && url->is_array()) {
    // Seed nodes as a list of redis:// URLs: one URL naming them all.
    std::string hosts, scheme_and_auth;
    for (auto& item : *url->as_array()) {
      if (!item.is_string())
        throw config_error("redis.url", "expected a string or a list of strings");
      auto ep = parse_redis_url(item.as_string()->get(), "redis.url", true);
      if (scheme_and_auth.empty()) {
        auto u = item.as_string()->get();
        auto rest = u.substr(u.find("://") + 3);
        auto at = rest.rfind('@');
        scheme_and_auth = "redis+cluster://" + (at == std::string::npos ? "" : rest.substr(0, at + 1));
      }
      hosts += (hosts.empty() ? "" : ",") + ep.host + ":" + std::to_string(ep.port);
    }
    if (hosts.empty())
      throw config_error("redis.url", "the list of seed nodes is empty");
    cfg.redis_url = scheme_and_auth + hosts;
    cfg.redis_cluster = true;
  } else {
    redis.read("url", cfg.redis_url);
  }
  if (cfg.redis_url.rfind("redis+cluster://", 0) == 0)
    cfg.redis_cluster = true;
  if (!cfg.redis_url.empty())
    parse_redis_url(cfg.redis_url, "redis.url", cfg.redis_cluster);
  redis.read("pool_size", cfg.redis_pool, 1, 64);
  redis.read("key_prefix", cfg.redis_key_prefix);
  redis.read("groups", cfg.redis_groups, 256, 16384);
  redis.read_ms("timeout_ms", cfg.redis_timeout, 10, 600 * 1000);
  redis.reject_unknown();

  auto pg = sub("postgres");
  pg.read("url", cfg.postgres_url);
  if (!cfg.postgres_url.empty())
    check_postgres_url(cfg.postgres_url, "postgres.url");
  pg.read("pool_size", cfg.postgres_pool, 1, 64);
  pg.read_ms("timeout_ms", cfg.postgres_timeout, 10, 600 * 1000);
  pg.reject_unknown();

  auto cache = sub("cache");
  cache.read_seconds("default_ttl", cfg.default_ttl, 0, 365LL * 24 * 3600);
  cache.read_seconds("tombstone_ttl", cfg.tombstone_ttl, 1, 24 * 3600);
  cache.read_ms("reap_interval_ms", cfg.reap_interval, 10, 3600 * 1000);
  cache.read("reap_batch", cfg.reap_batch, 1, 10000);
  cfg.refuse_writes_without_cache =
    cache.read_choice("on_cache_failure", "bypass", "fail") == "fail";
  cfg.refuse_reads_without_database =
    cache.read_choice("on_database_failure", "serve-cached", "fail") == "fail";
  cache.read_ms("dirty_lease_ms", cfg.dirty_lease, 40, 60 * 1000);
  // The default namespace's, and every write-through namespace's that sets none.
  bool ack_after_commit =
    cache.read_choice("ack", "after-cache-update", "after-commit") == "after-commit";
  cfg.namespaces.front().ack_after_commit = ack_after_commit;
  cache.reject_unknown();

  auto sup = sub("supervisor");
  sup.read_ms("min_backoff_ms", cfg.restart_backoff.min, 1, 3600 * 1000);
  sup.read_ms("max_backoff_ms", cfg.restart_backoff.max, 1, 3600 * 1000);
  sup.read("random_factor", cfg.restart_backoff.random_factor, 0.0, 10.0);
  cfg.breaker.failures_to_open =
    static_cast<unsigned>(sup.read_int("breaker_failures", cfg.breaker.failures_to_open, 1, 1000));
  sup.read_ms("breaker_open_ms", cfg.breaker.open_for, 1, 3600 * 1000);
  cfg.breaker.max_open_for = std::max(cfg.breaker.open_for, cfg.restart_backoff.max);
  sup.reject_unknown();

  for_each_table(top, "namespace", [&](const toml::table& t, const std::string& path) {
    auto ns = parse_namespace(t, path, ack_after_commit);
    check_beside(cfg.namespaces, cfg.namespaces.size(), ns,
                 [&](const std::string& name) { return path + "." + name; });
    cfg.namespaces.push_back(std::move(ns));
  });
  for_each_table(top, "user", [&](const toml::table& t, const std::string& path) {
    auto u = parse_user(t, path);
    for (auto& other : cfg.users)
      if (other.name == u.name)
        throw config_error(path + ".name", "\"" + u.name + "\" is used twice");
    cfg.users.push_back(std::move(u));
  });
  top.reject_unknown();
  return cfg;
}

}  // namespace

config parse_config_text(const std::string& text, const std::string& source) {
  auto cfg = parse_unvalidated(text, source);
  validate_config(cfg);  // what spans fields
  return cfg;
}

command_line parse_command_line(int argc, char** argv) {
  command_line cl;
  // CLI11 parses; the messages stay ours: one line, naming the option.
  CLI::App app{"wtcached"};
  app.option_defaults()->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);
  app.set_help_flag();
  app.allow_extras();
  app.fallthrough();
  app.add_flag("-h,--help", cl.help);
  app.add_flag("--version", cl.version);
  std::string config_file, listen, http_listen, redis_url, postgres_url, data_dir;
  auto* config_opt = app.add_option("--config", config_file);
  auto* listen_opt = app.add_option("--listen", listen);
  auto* http_opt = app.add_option("--http-listen", http_listen);
  auto* redis_opt = app.add_option("--redis", redis_url);
  auto* postgres_opt = app.add_option("--postgres", postgres_url);
  auto* data_opt = app.add_option("--data-dir", data_dir);
  auto one_of = [](std::vector<std::string> allowed, std::string expected) {
    return CLI::Validator(
      [=](std::string& v) {
        return std::find(allowed.begin(), allowed.end(), v) != allowed.end()
                 ? std::string()
                 : "expected " + expected + ", got \"" + v + "\"";
      },
      "");
  };
  app.add_option("--log-level", cl.log_level)
    ->check(one_of({"trace", "debug", "info", "warn", "error", "off"},
                   "trace, debug, info, warn, error or off"));
  app.add_option("--log-format", cl.log_format)->check(one_of({"text", "json"}, "text or json"));
  auto* migrate = app.add_subcommand("migrate");
  auto* check = app.add_subcommand("check");
  for (auto* sub : {migrate, check}) {
    sub->allow_extras();
    sub->fallthrough();
  }
  app.require_subcommand(0, 1);
  // "--name: what" from CLI11's messages, as a config_error of that name.
  auto refused = [](const std::string& what, const std::string& instead) {
    auto colon = what.find(": ");
    auto name = colon == std::string::npos ? std::string("command line") : what.substr(0, colon);
    return config_error(name, instead.empty() ? what.substr(colon + 2) : instead);
  };
  // "--name=" gives an empty value (--http-listen= turns HTTP off); CLI11
  // would take the next argument instead.
  std::vector<std::string> args;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a.rfind("--", 0) == 0 && a.size() > 3 && a.back() == '=' &&
        a.find('=') == a.size() - 1) {
      args.push_back(a.substr(0, a.size() - 1));
      args.emplace_back();
    } else {
      args.push_back(std::move(a));
    }
  }
  std::reverse(args.begin(), args.end());  // CLI11 takes them back to front
  try {
    app.parse(args);
  } catch (const CLI::ArgumentMismatch& e) {
    std::string what = e.what();
    bool missing = what.find("required") != std::string::npos &&
                   what.find("missing") != std::string::npos;
    throw refused(what, missing ? "missing value" : "");
  } catch (const CLI::ValidationError& e) {
    throw refused(e.what(), "");
  } catch (const CLI::ParseError& e) {
    throw config_error("command line", e.what());
  }
  std::vector<std::string> extras = app.remaining();
  for (auto* sub : {migrate, check})
    for (auto& x : sub->remaining())
      extras.push_back(x);
  if (!extras.empty()) {
    const auto& x = extras.front();
    if (x.rfind("-", 0) == 0)
      throw config_error(x.substr(0, x.find('=')), "unknown option (see wtcached --help)");
    throw config_error(x, "unknown command (expected: migrate or check)");
  }
  if (migrate->parsed())
    cl.subcommand = "migrate";
  else if (check->parsed())
    cl.subcommand = "check";
  auto set = [](CLI::Option* opt, std::optional<std::string>& out, std::string& value) {
    if (opt->count() > 0)
      out = std::move(value);
  };
  set(config_opt, cl.config_file, config_file);
  set(listen_opt, cl.listen, listen);
  set(http_opt, cl.http_listen, http_listen);
  set(redis_opt, cl.redis_url, redis_url);
  set(postgres_opt, cl.postgres_url, postgres_url);
  set(data_opt, cl.data_dir, data_dir);
  return cl;
}

namespace {

// A file that holds a password (requirepass as text, or a URL with a
// password in it) should be readable by its owner only.
void warn_if_secrets_readable(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0 || !(st.st_mode & (S_IRGRP | S_IROTH)))
    return;
  auto text = read_file(path);
  toml::table root;
  try {
    root = toml::parse(text, path);
  } catch (const toml::parse_error&) {
    return;
  }
  auto has_password_in_url = [&](const char* table) {
    auto url = root[table]["url"].value<std::string>();
    return url && *url != redact_url(*url);
  };
  auto plain = root["server"]["requirepass"].value<std::string>();
  bool holds = (plain && !plain->empty()) || has_password_in_url("redis") ||
               has_password_in_url("postgres");
  if (holds)
    spdlog::warn("{} holds a password and is readable by other users (mode {:o}): "
                 "chmod 600 it, or use requirepass_file / requirepass_env",
                 path, st.st_mode & 0777);
}

}  // namespace

config load_config(const command_line& cl) {
  config cfg;
  if (cl.config_file)
    cfg = parse_unvalidated(read_file(*cl.config_file), *cl.config_file);
  else
    cfg = parse_unvalidated("", "defaults");
  auto env = [](const char* name) -> std::optional<std::string> {
    auto v = std::getenv(name);
    if (v && *v)
      return std::string(v);
    return std::nullopt;
  };
  if (cl.listen)
    parse_listen(*cl.listen, "--listen", cfg);
  if (cl.http_listen)
    parse_http_listen(*cl.http_listen, "--http-listen", cfg);
  if (cl.redis_url) {
    parse_redis_url(*cl.redis_url, "--redis", cfg.redis_cluster);
    cfg.redis_url = *cl.redis_url;
  } else if (auto v = env("REDIS_URL")) {
    parse_redis_url(*v, "REDIS_URL", cfg.redis_cluster);
    cfg.redis_url = *v;
  }
  if (cfg.redis_url.rfind("redis+cluster://", 0) == 0)
    cfg.redis_cluster = true;
  if (cl.postgres_url) {
    check_postgres_url(*cl.postgres_url, "--postgres");
    cfg.postgres_url = *cl.postgres_url;
  } else if (auto v = env("DATABASE_URL")) {
    check_postgres_url(*v, "DATABASE_URL");
    cfg.postgres_url = *v;
  }
  if (cl.data_dir)
    cfg.data_dir = *cl.data_dir;
  validate_config(cfg);  // what spans fields, flags included (a --listen on loopback)
  if (cl.config_file)
    warn_if_secrets_readable(*cl.config_file);
  return cfg;
}

bool is_loopback_host(const std::string& host) {
  return host == "localhost" || host == "::1" || host == "[::1]" || host.rfind("127.", 0) == 0;
}

void validate_config(const config& cfg) {
  // As Redis's protected mode, but at start: no password, no listening
  // where other machines can reach.
  if (cfg.listen_enabled && cfg.protected_mode && !is_loopback_host(cfg.listen_host) &&
      cfg.requirepass_sha256.empty() && cfg.users.empty())
    throw config_error("server.protected_mode",
                       "refusing to listen on " + cfg.listen_host + ":" +
                         std::to_string(cfg.listen_port) +
                         " with no password: anyone who can reach it could read and write "
                         "every mapped table. Set server.requirepass or add a [[user]], or set "
                         "server.protected_mode = false to accept that");
  for (std::size_t i = 0; i < cfg.users.size(); ++i)
    if (!is_sha256_hex(cfg.users[i].password_sha256))
      throw config_error("users[" + std::to_string(i) + "].password_sha256",
                         "expected a SHA-256 digest (64 hex digits)");
  if (!cfg.requirepass_sha256.empty() && !is_sha256_hex(cfg.requirepass_sha256))
    throw config_error("requirepass_sha256", "expected a SHA-256 digest (64 hex digits)");
  auto positive = [](bool ok, const std::string& field) {
    if (!ok)
      throw config_error(field, "must be positive");
  };
  positive(cfg.shards > 0, "shards");
  positive(cfg.postgres_pool > 0, "postgres_pool");
  positive(cfg.redis_pool > 0, "redis_pool");
  positive(cfg.request_timeout.count() > 0, "request_timeout");
  positive(cfg.redis_timeout.count() > 0, "redis_timeout");
  positive(cfg.postgres_timeout.count() > 0, "postgres_timeout");
  positive(cfg.max_value_bytes > 0, "max_value_bytes");
  positive(cfg.max_batch_ops > 0, "max_batch_ops");
  positive(cfg.max_pipeline > 0, "max_pipeline");
  positive(cfg.max_queued_writes > 0, "max_queued_writes");
  positive(cfg.reap_batch > 0, "reap_batch");
  positive(cfg.reap_interval.count() > 0, "reap_interval");
  if (cfg.redis_cluster && cfg.redis_url.empty())
    throw config_error("redis.url", "cluster = true needs the url of a seed node (or a list "
                                    "of them); the embedded Redis is a single one");
  if (!valid_group_count(cfg.redis_groups))
    throw config_error("redis.groups", "must be a power of two from 256 to 16384");
  // Redis Cluster hashes the first {...} of a key: the prefix must leave the
  // layout's own tag first.
  if (cfg.redis_key_prefix.find_first_of("{}") != std::string::npos)
    throw config_error("redis.key_prefix", "must not contain { or }");
  if (cfg.max_reply_buffer_bytes < 2 * cfg.max_value_bytes)
    throw config_error("server.max_reply_buffer_bytes", "must be at least twice max_value_bytes");
  // A tombstone must outlive any read-through fill still on its way, or the
  // fill could land after it expired (fills run within redis.timeout_ms).
  if (cfg.tombstone_ttl < 2 * cfg.redis_timeout)
    throw config_error("cache.tombstone_ttl", "must be at least twice redis.timeout_ms");
  // A write that waits out the lease must still answer by its deadline.
  if (2 * cfg.dirty_lease > cfg.request_timeout)
    throw config_error("cache.dirty_lease_ms", "must be at most half of server.request_timeout_ms");
  // A request's deadline must leave room for its database and cache steps,
  // or clients would hear "outcome unknown" for writes that merely queued.
  if (cfg.request_timeout < cfg.postgres_timeout + cfg.redis_timeout + std::chrono::milliseconds(500))
    throw config_error("server.request_timeout_ms",
                       "must be at least postgres.timeout_ms + redis.timeout_ms + 500 (" +
                         std::to_string((cfg.postgres_timeout + cfg.redis_timeout).count() + 500) +
                         ")");
  if (cfg.restart_backoff.max < cfg.restart_backoff.min)
    throw config_error("supervisor.max_backoff_ms", "must not be below min_backoff_ms");
  if (cfg.namespaces.empty() || !cfg.namespaces[0].prefix.empty() ||
      cfg.namespaces[0].table != "wtcache_kv")
    throw config_error("namespaces[0]", "must be the default namespace (table wtcache_kv, no "
                                        "prefix): start from embedded_defaults()");
  for (std::size_t i = 0; i < cfg.namespaces.size(); ++i) {
    const auto& ns = cfg.namespaces[i];
    auto field = [&](const std::string& name) {
      return "namespaces[" + std::to_string(i) + "]." + name;
    };
    if (i > 0 && ns.prefix.empty())
      throw config_error(field("prefix"), "is required and must not be empty");
    // The identifiers the TOML loader reads with read_identifier.
    std::vector<std::pair<std::string, std::string>> names = {
      {"table", ns.table}, {"key_column", ns.key_column}, {"value_column", ns.value_column},
      {"version_column", ns.version_column}};
    for (std::size_t k = 0; k < ns.touch_columns.size(); ++k)
      names.emplace_back("touch_columns[" + std::to_string(k) + "]", ns.touch_columns[k]);
    if (ns.expiry == expiry_mode::value)
      names.emplace_back("expires_column", ns.expires_column);
    for (auto& [name, value] : names)
      if (!is_plain_identifier(value))
        throw config_error(field(name), "\"" + value + "\" is not a plain identifier (letters, "
                                        "digits and underscores, not starting with a digit)");
    check_distinct_columns(ns, field);
    check_beside(cfg.namespaces, i, ns, field);
    if (ns.mode == write_mode::write_behind) {
      if (!(ns.low_watermark >= 0.0 && ns.low_watermark <= 1.0))
        throw config_error(field("low_watermark"), "must be between 0 and 1");
      positive(ns.writers > 0, field("writers"));
      positive(ns.batch_size > 0, field("batch_size"));
      positive(ns.flush_interval.count() > 0, field("flush_interval"));
      positive(ns.max_queue_entries > 0, field("max_queue_entries"));
      positive(ns.max_queue_bytes > 0, field("max_queue_bytes"));
    }
  }
}

std::string usage_text() {
  // The defaults as the parser has them, so that this text cannot drift.
  auto d = parse_config_text("", "defaults");
  auto ms = [](std::chrono::milliseconds v) { return std::to_string(v.count()); };
  auto s = [](std::chrono::milliseconds v) { return std::to_string(v.count() / 1000); };
  auto n = [](auto v) { return std::to_string(v); };
  std::string out =
    "usage: wtcached [OPTIONS]            serve RESP, writing through to PostgreSQL\n"
    "       wtcached check [OPTIONS]      check the configuration and both backends, then exit\n"
    "       wtcached migrate [OPTIONS]    add the version column (and, for expiry = \"value\",\n"
    "                                     the expires_at column) to each namespace's table\n"
    "\n"
    "Options (a flag wins over the configuration file):\n"
    "  --config FILE          TOML configuration (every key below; see config/wtcache.toml)\n"
    "  --listen HOST:PORT     RESP address (server.listen)       default " + d.listen_host + ":" + n(d.listen_port) + "\n"
    "  --http-listen HOST:PORT  /metrics, /healthz, /readyz (http.listen; \"\" turns it off)\n"
    "                                                            default " + d.http_host + ":" + n(d.http_port) + "\n"
    "  --redis URL            redis://[[user]:password@]host[:port][/db] (redis.url, REDIS_URL)\n"
    "                                                            default: start a private redis-server\n"
    "  --postgres URL         postgresql://[user[:password]@]host[:port]/db[?...] (postgres.url,\n"
    "                         DATABASE_URL)\n"
    "                                                            default: start a private PostgreSQL\n"
    "  --data-dir DIR         where private servers keep their data (server.data_dir)\n"
    "                                                            default " + d.data_dir + "\n"
    "  --log-level LEVEL      trace, debug, info, warn, error, off   default info\n"
    "  --log-format FORMAT    text, or json (one object per line)    default text\n"
    "  --version              print the version and exit\n"
    "  -h, --help             this text\n"
    "\n"
    "Configuration keys and their defaults:\n"
    "  [server]     listen = \"" + d.listen_host + ":" + n(d.listen_port) + "\", shards = " + n(d.shards) +
    ", request_timeout_ms = " + ms(d.request_timeout) + ",\n"
    "               max_value_bytes = " + n(d.max_value_bytes) + ", max_pipeline = " + n(d.max_pipeline) +
    ", max_reply_buffer_bytes = " + n(d.max_reply_buffer_bytes) + ",\n"
    "               max_batch_ops = " + n(d.max_batch_ops) + ", max_queued_writes = " + n(d.max_queued_writes) +
    ", data_dir = \"" + d.data_dir + "\", shutdown_grace_ms = " + ms(d.shutdown_grace) + ",\n"
    "               allow_flush = " + (d.allow_flush ? "true" : "false") + ", requirepass = \"\" (or requirepass_file,\n"
    "               requirepass_env, requirepass_sha256), protected_mode = " +
    (d.protected_mode ? "true" : "false") + ", maxclients = " + n(d.maxclients) + ", timeout = " +
    n(d.idle_timeout.count()) + "\n"
    "  [http]       listen = \"" + d.http_host + ":" + n(d.http_port) + "\"\n"
    "  [redis]      url = \"\", pool_size = " + n(d.redis_pool) + ", key_prefix = \"" + d.redis_key_prefix +
    "\", groups = " + n(d.redis_groups) + ", timeout_ms = " + ms(d.redis_timeout) + "\n"
    "  [postgres]   url = \"\", pool_size = " + n(d.postgres_pool) + ", timeout_ms = " + ms(d.postgres_timeout) + "\n"
    "  [cache]      default_ttl = " + s(d.default_ttl) + ", tombstone_ttl = " + s(d.tombstone_ttl) +
    ", on_cache_failure = \"" + (d.refuse_writes_without_cache ? "fail" : "bypass") +
    "\", on_database_failure = \"" + (d.refuse_reads_without_database ? "fail" : "serve-cached") +
    "\",\n"
    "               dirty_lease_ms = " + ms(d.dirty_lease) + ", reap_interval_ms = " + ms(d.reap_interval) +
    ", reap_batch = " + n(d.reap_batch) + "\n"
    "  [supervisor] min_backoff_ms = " + ms(d.restart_backoff.min) + ", max_backoff_ms = " +
    ms(d.restart_backoff.max) + ", random_factor = " + std::to_string(d.restart_backoff.random_factor).substr(0, 3) +
    ", breaker_failures = " + n(d.breaker.failures_to_open) + ", breaker_open_ms = " + ms(d.breaker.open_for) + "\n"
    "  [[namespace]] prefix, table, key_column, value_column, value_type (text|jsonb|bytea),\n"
    "               touch_columns, ttl, mode (write-through|write-behind), expiry (value|cache;\n"
    "               default cache), expires_column, and for write-behind its queue settings:\n"
    "               see config/wtcache.toml\n"
    "  [[user]]     name, password_sha256 | password_file | password_env, read_only = false,\n"
    "               keys = [\"*\"] (Redis ACL glob patterns)\n"
    "\n"
    "Keys that match no namespace go to the table wtcache_kv. Exit status 2: bad configuration.\n";
  return out;
}

}  // namespace wtcache
