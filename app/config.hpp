// The one configuration loader: command line, environment and TOML file are
// parsed once, here, into the plain struct of core/config.hpp. Precedence:
// flag, then environment (REDIS_URL, DATABASE_URL), then the file, then the
// struct's defaults. Any problem is a config_error naming the field;
// wtcached prints it and exits with status 2.
#pragma once

#include <optional>
#include <string>

#include "backends/endpoints.hpp"
#include "core/config.hpp"

namespace wtcache {

struct command_line {
  std::string subcommand;  // "" (serve), "migrate", "check"
  std::optional<std::string> config_file, listen, http_listen, redis_url, postgres_url, data_dir;
  std::string log_level = "info";   // trace, debug, info, warn, error, off
  std::string log_format = "text";  // text, json (one object per line)
  bool help = false;
  bool version = false;
};

// Throws config_error for an unknown flag or a flag without its value.
command_line parse_command_line(int argc, char** argv);

// Builds the configuration from the file named on the command line (if any),
// the environment and the flags. Throws config_error.
config load_config(const command_line& cl);

// Parses TOML text (exposed for tests); `source` names it in messages.
config parse_config_text(const std::string& text, const std::string& source);

// The default namespace (table wtcache_kv), namespaces[0] of every config.
namespace_config default_namespace();

// Checks a configuration built in code (a host's) as the loader checks a
// file: the default namespace first, identifiers, limits that must be
// positive, columns named once. Throws config_error naming the field
// ("namespaces[1].table"). service::start calls it.
void validate_config(const config& cfg);

// --help: every option and configuration key, with its default.
std::string usage_text();

}  // namespace wtcache
