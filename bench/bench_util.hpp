// What the benchmark programs share: a blocking hiredis connection and the
// "--flag value" command-line loop.
#pragma once

#include <cstdio>
#include <cstdlib>
#include <functional>
#include <string>

#include <hiredis/hiredis.h>

namespace wtcache::bench {

// Connects or exits with a message.
inline redisContext* connect(const std::string& host, uint16_t port) {
  timeval tv{10, 0};
  auto* c = redisConnectWithTimeout(host.c_str(), port, tv);
  if (!c || c->err) {
    std::fprintf(stderr, "cannot connect to %s:%u\n", host.c_str(), port);
    std::exit(1);
  }
  return c;
}

// Calls `take(flag, value)` for each "--flag value" pair; `take` returns
// false for an unknown flag. Prints `usage` and exits: 0 for --help, 2 for
// anything it cannot parse.
inline void parse_flags(int argc, char** argv, const char* usage,
                        const std::function<bool(const std::string&, const std::string&)>& take) {
  for (int i = 1; i < argc; i += 2) {  // a flag, then its value
    std::string flag = argv[i];
    bool help = flag == "--help" || flag == "-h";
    if (help || i + 1 >= argc || !take(flag, argv[i + 1])) {
      std::fputs(usage, help ? stdout : stderr);
      std::exit(help ? 0 : 2);
    }
  }
}

}  // namespace wtcache::bench
