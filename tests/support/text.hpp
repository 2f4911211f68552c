// Reading what the tests read as text: a file (a log), and one figure of an
// INFO reply, whether it stands on a line of its own ("name:value") or in a
// line of several ("ns_x:hits=3,misses=1").
#pragma once

#include <string>

namespace wtcache::test {

// The whole file; empty if it cannot be read.
std::string slurp(const std::string& path);

// The value of `name` in INFO's text ("name:value" or "...,name=value,..."),
// up to the end of its line or the next comma; empty when absent.
std::string info_field(const std::string& info, const std::string& name);

// The value of `name` in a list of the second form ("a=1,b=2"); empty when
// absent.
std::string list_field(const std::string& list, const std::string& name);

}  // namespace wtcache::test
