// libFuzzer: the JSON validator for jsonb values (core/json.hpp). It must
// never crash, a refusal says why, a quoted copy of any input (json_quote)
// is accepted (but for a NUL, which jsonb cannot hold), and a value it
// accepts stays accepted inside an array.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "core/json.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, std::size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  auto error = wtcache::json_error(text);
  if (error && error->empty())
    std::abort();  // a refusal always says why
  // The quoted copy is JSON; it is jsonb too unless the text holds a NUL,
  // whose \u0000 PostgreSQL refuses (and so must the validator).
  std::string quoted;
  wtcache::json_quote(quoted, text);
  auto quoted_error = wtcache::json_error(quoted);
  bool has_nul = text.find('\0') != std::string_view::npos;
  if (has_nul != quoted_error.has_value() ||
      (quoted_error && quoted_error->find("\\u0000") == std::string::npos))
    std::abort();
  // Wrapped in an array a valid value stays valid, unless that nests it
  // past the depth limit.
  auto wrapped = "[" + std::string(text) + "]";
  if (!error && wtcache::json_error(wrapped) &&
      wtcache::json_error(wrapped)->find("nested too deeply") == std::string::npos)
    std::abort();
  return 0;
}
