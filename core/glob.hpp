// Redis's glob-style patterns (KEYS, SCAN MATCH, and later ACL key
// patterns): `*` any run of bytes, `?` one byte, `[abc]`, `[^abc]`,
// `[a-z]` one byte of a set, `\x` the byte x itself.
#pragma once

#include <string>
#include <string_view>

namespace wtcache {

bool glob_match(std::string_view pattern, std::string_view text);

// The bytes every match must start with: the pattern up to its first
// special character (escapes resolved).
std::string literal_prefix(std::string_view pattern);

}  // namespace wtcache
