// Users, passwords and permissions (core/acl.hpp).
#include "core/acl.hpp"

#include <algorithm>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "core/ascii.hpp"
#include "core/command_table.hpp"
#include "core/glob.hpp"

namespace wtcache {

namespace {

std::array<uint8_t, 32> sha256(std::string_view text) {
  std::array<uint8_t, 32> out{};
  unsigned int len = 0;
  EVP_Digest(text.data(), text.size(), out.data(), &len, EVP_sha256(), nullptr);
  return out;
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

std::array<uint8_t, 32> from_hex(std::string_view hex) {
  std::array<uint8_t, 32> out{};
  for (std::size_t i = 0; i < out.size(); ++i)
    out[i] = static_cast<uint8_t>(hex_value(hex[2 * i]) * 16 + hex_value(hex[2 * i + 1]));
  return out;
}

access_control::user make_user(const std::string& name, const std::string& digest_hex,
                               bool read_only, const std::vector<std::string>& keys) {
  access_control::user u;
  u.name = name;
  u.nopass = digest_hex.empty();
  if (!u.nopass)
    u.digest = from_hex(digest_hex);
  u.read_only = read_only;
  u.keys = keys;
  u.all_keys = std::find(keys.begin(), keys.end(), "*") != keys.end();
  return u;
}

bool any_key_pattern_matches(const access_control::user& u, const std::string& key) {
  return u.all_keys || std::any_of(u.keys.begin(), u.keys.end(), [&](const std::string& p) {
           return glob_match(p, key);
         });
}

}  // namespace

std::string sha256_hex(std::string_view text) {
  static const char digits[] = "0123456789abcdef";
  std::string out;
  for (auto b : sha256(text)) {
    out += digits[b >> 4];
    out += digits[b & 15];
  }
  return out;
}

bool is_sha256_hex(std::string_view s) {
  return s.size() == 64 &&
         std::all_of(s.begin(), s.end(), [](char c) { return hex_value(c) >= 0; });
}

access_control::access_control(const std::string& requirepass_sha256,
                               const std::vector<user_config>& users) {
  users_.push_back(make_user("default", requirepass_sha256, false, {"*"}));
  for (auto& u : users)
    users_.push_back(make_user(u.name, u.password_sha256, u.read_only, u.keys));
  open_ = requirepass_sha256.empty() && users.empty();
  default_enabled_ = open_ || !requirepass_sha256.empty();
}

const access_control::user* access_control::authenticate(std::string_view name,
                                                         std::string_view password) const {
  if (open_)
    return name == "default" ? &users_.front() : nullptr;
  auto digest = sha256(password);
  const user* found = nullptr;
  // Every user's digest is compared, so the time says nothing about which
  // name exists; the names themselves are not secret.
  for (std::size_t i = 0; i < users_.size(); ++i) {
    const auto& u = users_[i];
    bool same = CRYPTO_memcmp(digest.data(), u.digest.data(), digest.size()) == 0;
    bool usable = !u.nopass && (i > 0 || default_enabled_);
    if (same && usable && u.name == name && !found)
      found = &u;
  }
  return found;
}

bool access_control::has_user(std::string_view name) const {
  for (auto& u : users_)
    if (u.name == name)
      return true;
  return false;
}

denial check_access(const access_control::user& u, const command_info& info,
                    const std::vector<std::string>& args) {
  const std::string name = info.name;
  bool whole_keyspace = name == "keys" || name == "scan" || name == "dbsize" ||
                        name == "flushdb" || name == "flushall";
  if (u.read_only && has_flag(info, "write"))
    return denial::command;
  if (!u.all_keys && whole_keyspace)
    return denial::command;
  // Ending another client's connection is for a user with every right.
  if ((u.read_only || !u.all_keys) && name == "client" && args.size() > 1 &&
      uppered(args[1]) == "KILL")
    return denial::command;
  if (u.all_keys || info.first_key <= 0)
    return denial::none;
  auto last = info.last_key < 0 ? static_cast<int>(args.size()) + info.last_key : info.last_key;
  for (int i = info.first_key; i <= last && i < static_cast<int>(args.size()); i += info.step)
    if (!any_key_pattern_matches(u, args[static_cast<std::size_t>(i)]))
      return denial::key;
  return denial::none;
}

std::string noperm_text(denial d, const std::string& command) {
  if (d == denial::key)
    return "NOPERM this user has no permissions to access one of the keys used as arguments";
  return "NOPERM this user has no permissions to run the '" + command + "' command";
}

std::string acl_command_name(const std::vector<std::string>& args) {
  if (args.empty())
    return {};
  auto name = lowered(args[0]);
  if ((name == "client" || name == "config") && args.size() > 1)
    name += "|" + lowered(args[1]);
  return name;
}

}  // namespace wtcache
