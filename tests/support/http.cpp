// A minimal HTTP client for the endpoint tests, and promtool.
#include "tests/support/http.hpp"

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>

#include <sys/wait.h>
#include <unistd.h>

#include "tests/support/resp_client.hpp"

namespace wtcache::test {

http_reply http_request(uint16_t port, const std::string& method, const std::string& path) {
  raw_socket s(port);
  s.send(method + " " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: wtcache-test\r\n\r\n");
  auto text = s.receive(64 * 1024 * 1024);
  http_reply r;
  auto end = text.find("\r\n\r\n");
  if (text.rfind("HTTP/1.1 ", 0) != 0 || end == std::string::npos)
    return r;
  r.status = std::atoi(text.c_str() + 9);
  r.headers = text.substr(0, end);
  r.body = text.substr(end + 4);
  return r;
}

double metric(const std::string& text, const std::string& series) {
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line))
    if (line.size() > series.size() && line.compare(0, series.size(), series) == 0 &&
        line[series.size()] == ' ')
      return std::strtod(line.c_str() + series.size() + 1, nullptr);
  return -1;
}

int promtool_check_metrics(const std::string& text, std::string& output) {
  char path[] = "/tmp/wtcache-metrics-XXXXXX";
  int fd = ::mkstemp(path);
  if (fd < 0)
    return -1;
  ::close(fd);
  std::ofstream(path) << text;
  std::string cmd = std::string(PROMTOOL_PATH) + " check metrics < " + path + " 2>&1";
  output.clear();
  auto* p = ::popen(cmd.c_str(), "r");
  if (!p) {
    ::unlink(path);
    return -1;
  }
  char buf[4096];
  std::size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, p)) > 0)
    output.append(buf, n);
  int status = ::pclose(p);
  ::unlink(path);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

}  // namespace wtcache::test
