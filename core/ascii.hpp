// ASCII case for command names and options: Redis compares them without
// case, byte by byte, whatever the locale.
#pragma once

#include <cctype>
#include <string>

namespace wtcache {

inline std::string lowered(std::string s) {
  for (auto& c : s)
    c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

inline std::string uppered(std::string s) {
  for (auto& c : s)
    c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return s;
}

}  // namespace wtcache
