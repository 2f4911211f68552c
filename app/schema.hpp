// What wtcached needs from the database, checked once at start on the
// calling thread (before any actor runs): the version sequence and the
// default table, which it creates, and every namespace's table, which it
// only checks. It never alters a user table; `wtcached migrate` does that.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/namespaces.hpp"

namespace wtcache {

// Creates the sequence and wtcache_kv if missing, and checks each namespace's
// table, columns, unique key and version column. Throws config_error naming
// the namespace field at fault.
void prepare_schema(const std::string& postgres_url, const std::vector<namespace_config>& spaces);

// What `wtcached check` reports about the database, read-only: the
// server's version, whether wtcached's own objects exist yet (it creates
// them at start), and each namespace's problem (empty when none).
struct schema_report {
  std::string server_version;
  // The connection's TLS, as wtcached check reports it: the protocol and
  // cipher, and what sslmode verified; or that there is none.
  std::string tls;
  bool owned_objects_exist = false;
  struct ns_check {
    std::string prefix, table, problem;
  };
  std::vector<ns_check> namespaces;  // the configured ones, not the default
};
// Throws config_error when PostgreSQL cannot be reached.
schema_report check_schema(const std::string& postgres_url,
                           const std::vector<namespace_config>& spaces);

// Moves the version sequence up to `floor` (Redis's clock in microseconds,
// where write-behind versions come from) unless it is there already, so that
// write-through versions stay above write-behind ones when a namespace
// changes mode.
void raise_version_floor(const std::string& postgres_url, int64_t floor);

// Adds the version column to every namespace table that lacks it. Returns one
// line per table saying what was done.
std::vector<std::string> migrate_schema(const std::string& postgres_url,
                                        const std::vector<namespace_config>& spaces);

}  // namespace wtcache
