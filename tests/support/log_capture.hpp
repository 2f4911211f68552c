// Lets a test look at the lines this process logs, each at the moment it is
// written: a sink on the default logger (which still prints to stdout),
// installed once per test binary, before any actor logs, and never swapped
// while one might.
#pragma once

#include <functional>
#include <string>

namespace wtcache::test {

// Called on the logging thread, before the code that logged goes on.
using log_watcher = std::function<void(const std::string& line)>;

// Installs the sink on the first call; then every line goes to `watcher`
// until watch_log({}) or the next watch_log.
void watch_log(log_watcher watcher);

}  // namespace wtcache::test
