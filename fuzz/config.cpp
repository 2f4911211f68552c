// libFuzzer: the TOML configuration loader (app/config.hpp). Any text is
// either a configuration or a config_error naming a field; nothing else
// may come out of it (another exception is a crash here).
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "app/config.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, std::size_t size) {
  std::string text(reinterpret_cast<const char*>(data), size);
  try {
    auto cfg = wtcache::parse_config_text(text, "fuzz.toml");
    wtcache::validate_config(cfg);  // what the loader made passes its own check
  } catch (const wtcache::config_error& e) {
    if (e.field.empty())
      std::abort();
  }
  return 0;
}
