// A plain RESP client for tests (hiredis, blocking), so the tests talk to
// wtcached and Redis the way any Redis library would.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

struct redisContext;

namespace wtcache::test {

struct reply {
  enum kind_t { status, error, integer, bulk, nil, array } kind = nil;
  std::string str;
  long long number = 0;
  std::vector<reply> elements;

  bool is_error() const { return kind == error; }
  bool is_nil() const { return kind == nil; }
};

std::ostream& operator<<(std::ostream& os, const reply& r);

// Whether `got` answers as `want` does: the same kind and values, integers
// within `slack` of each other (negative ones exactly: -1, -2 are codes).
// For differential tests against a real redis-server.
bool alike(const reply& want, const reply& got, long long slack = 0);
// A command's arguments, space-separated, for failure messages.
std::string shown(const std::vector<std::string>& args);

class resp_client {
public:
  explicit resp_client(uint16_t port);
  ~resp_client();
  resp_client(const resp_client&) = delete;
  resp_client& operator=(const resp_client&) = delete;

  reply cmd(const std::vector<std::string>& args);
  // Pipelining: queue commands, then read their replies in order.
  void append(const std::vector<std::string>& args);
  // Sends what append() queued without waiting for replies.
  void flush();
  reply read();

private:
  redisContext* ctx_;
};

// A raw TCP connection for protocol-level tests.
class raw_socket {
public:
  explicit raw_socket(uint16_t port);
  ~raw_socket();
  void send(const std::string& bytes);
  // False once the peer has closed (or reset) the connection.
  bool try_send(const std::string& bytes);
  // Reads until `n` bytes arrived or the peer closed; returns what came.
  std::string receive(std::size_t n, int timeout_ms = 5000);
  // True when the peer closed the connection within the timeout.
  bool closed_by_peer(int timeout_ms = 5000);

private:
  int fd_;
};

}  // namespace wtcache::test
