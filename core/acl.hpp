// Who may connect and what each client may do, in Redis's model: the
// default user (its password is [server] requirepass), named users with a
// password kept only as a SHA-256 digest, read-only users, and key patterns
// in Redis ACL glob style. Pure logic: the connection asks, this answers;
// nothing here logs, and no password is ever kept, only its digest.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace wtcache {

// A [[user]] of the configuration.
struct user_config {
  std::string name;
  std::string password_sha256;  // 64 hex digits: SHA-256 of the password
  bool read_only = false;       // no command that writes (SET, DEL, FLUSHDB...)
  std::vector<std::string> keys{"*"};  // the keys it may touch, as glob patterns
};

// The lower-case hex SHA-256 digest of `text`.
std::string sha256_hex(std::string_view text);
// Whether `s` is a SHA-256 hex digest (64 hex digits, any case).
bool is_sha256_hex(std::string_view s);

struct command_info;

class access_control {
public:
  struct user {
    std::string name;
    std::array<uint8_t, 32> digest{};
    bool nopass = false;  // any password is accepted (the open default user)
    bool read_only = false;
    std::vector<std::string> keys;
    bool all_keys = false;  // a pattern is "*"
  };

  // No requirepass and no users: the default user takes every client, with
  // no password (as Redis). A requirepass gives the default user that
  // password. Users but no requirepass: the default user is disabled, so
  // every client must AUTH as a named user.
  access_control(const std::string& requirepass_sha256, const std::vector<user_config>& users);

  // The user a new connection is, before any AUTH: the default user when it
  // needs no password, else null (the client must authenticate).
  const user* at_connect() const { return open_ ? &users_.front() : nullptr; }
  // The default user needs no password (AUTH <password> is then an error).
  bool default_is_open() const { return open_; }
  // Some password is configured: protected mode is satisfied.
  bool protects() const { return !open_; }

  // AUTH and HELLO AUTH: the user `name` if `password` is its password,
  // else null. It takes the same time whichever part was wrong: the
  // password's digest is computed and compared in constant time against
  // every user's.
  const user* authenticate(std::string_view name, std::string_view password) const;

  // Whether a user of that name exists (the default user always does, as
  // in Redis, even when disabled): CLIENT KILL USER refuses one that does not.
  bool has_user(std::string_view name) const;

private:
  std::vector<user> users_;  // [0] is "default"
  bool open_ = false;
  bool default_enabled_ = true;
};

// What access_control allows a user to run.
enum class denial { none, command, key };

// Whether `u` may run this command (its name is `info`, its arguments
// `args` with the name first). A read-only user runs no command that
// writes; a user limited to some keys runs no command over the whole
// keyspace (KEYS, SCAN, DBSIZE, FLUSHDB, FLUSHALL) and touches only keys
// its patterns match. Its arity must have been checked already.
denial check_access(const access_control::user& u, const command_info& info,
                    const std::vector<std::string>& args);

// Redis 7.0's NOPERM reply text (without the leading '-') for a denial of
// `command` (lower case, "client|kill" for a subcommand).
std::string noperm_text(denial d, const std::string& command);

// The command's name as NOPERM names it: lower case, with its subcommand
// for a container command (CLIENT, CONFIG).
std::string acl_command_name(const std::vector<std::string>& args);

}  // namespace wtcache
