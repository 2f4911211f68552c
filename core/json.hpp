// A strict RFC 8259 JSON validator for values bound for jsonb columns, so a
// bad value is refused with a precise message before anything is written.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace wtcache {

// Returns nullopt for a valid JSON text, else what is wrong and where
// (e.g. "invalid JSON at byte 7: expected ',' or '}'").
std::optional<std::string> json_error(std::string_view text);

// Appends `s` as a JSON string: quoted, with '"', '\\' and control
// characters escaped; well-formed UTF-8 is kept, any other byte becomes
// U+FFFD, so that the result is always valid JSON.
void json_quote(std::string& out, std::string_view s);

}  // namespace wtcache
