// The commands wtcached answers, as COMMAND describes them to clients and
// tools (redis-cli's hints, clients that look up key positions): arity,
// flags, the key positions, and a line of docs. Redis 7.0's figures.
#pragma once

#include <string>
#include <vector>

namespace wtcache {

struct command_info {
  const char* name;   // lower case
  int arity;          // the argument count with the name; negative: at least that many
  std::vector<const char*> flags;
  int first_key, last_key, step;  // 0 0 0: no keys; last -1: to the end
  const char* group;
  const char* since;
  const char* summary;
};

const std::vector<command_info>& command_table();
const command_info* find_command(const std::string& lower_name);
// Whether the command carries `flag` ("write", "no_auth"...).
bool has_flag(const command_info& info, const char* flag);

}  // namespace wtcache
