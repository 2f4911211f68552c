// slurp and INFO field parsing for the tests.
#include "tests/support/text.hpp"

#include <fstream>
#include <sstream>

namespace wtcache::test {

std::string slurp(const std::string& path) {
  std::ifstream in(path);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string info_field(const std::string& info, const std::string& name) {
  for (std::size_t at = 0; at < info.size();) {
    auto end = info.find("\r\n", at);
    if (end == std::string::npos)
      end = info.size();
    auto line = info.substr(at, end - at);
    at = end + 2;
    if (line.rfind(name + ":", 0) == 0)
      return line.substr(name.size() + 1);
    // In a line of several figures ("ns_x:hits=3,misses=1").
    auto colon = line.find(':');
    if (colon != std::string::npos)
      if (auto v = list_field(line.substr(colon + 1), name); !v.empty())
        return v;
  }
  return {};
}

std::string list_field(const std::string& list, const std::string& name) {
  for (std::size_t at = 0; at <= list.size();) {
    auto end = list.find(',', at);
    if (end == std::string::npos)
      end = list.size();
    if (list.compare(at, name.size() + 1, name + "=") == 0)
      return list.substr(at + name.size() + 1, end - at - name.size() - 1);
    at = end + 1;
  }
  return {};
}

}  // namespace wtcache::test
