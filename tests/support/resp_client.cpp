// The RESP client of the tests (hiredis), and a raw socket for protocol tests.
#include "tests/support/resp_client.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdlib>
#include <ostream>
#include <stdexcept>

#include <hiredis/hiredis.h>

namespace wtcache::test {

namespace {

reply convert(const redisReply* r) {
  reply out;
  switch (r->type) {
    case REDIS_REPLY_STATUS: out.kind = reply::status; out.str.assign(r->str, r->len); break;
    case REDIS_REPLY_ERROR: out.kind = reply::error; out.str.assign(r->str, r->len); break;
    case REDIS_REPLY_INTEGER: out.kind = reply::integer; out.number = r->integer; break;
    case REDIS_REPLY_STRING: out.kind = reply::bulk; out.str.assign(r->str, r->len); break;
    case REDIS_REPLY_NIL: out.kind = reply::nil; break;
    case REDIS_REPLY_ARRAY:
      out.kind = reply::array;
      for (size_t i = 0; i < r->elements; ++i)
        out.elements.push_back(convert(r->element[i]));
      break;
  }
  return out;
}

}  // namespace

std::ostream& operator<<(std::ostream& os, const reply& r) {
  switch (r.kind) {
    case reply::status: return os << "+" << r.str;
    case reply::error: return os << "-" << r.str;
    case reply::integer: return os << ":" << r.number;
    case reply::bulk: return os << "$\"" << r.str << "\"";
    case reply::nil: return os << "(nil)";
    case reply::array:
      os << "[";
      for (auto& e : r.elements)
        os << e << " ";
      return os << "]";
  }
  return os;
}

bool alike(const reply& want, const reply& got, long long slack) {
  if (want.kind != got.kind || want.elements.size() != got.elements.size())
    return false;
  if (want.kind == reply::integer) {
    if (want.number < 0 || got.number < 0)
      return want.number == got.number;
    return std::llabs(want.number - got.number) <= slack;
  }
  if (want.str != got.str)
    return false;
  for (std::size_t i = 0; i < want.elements.size(); ++i)
    if (!alike(want.elements[i], got.elements[i], slack))
      return false;
  return true;
}

std::string shown(const std::vector<std::string>& args) {
  std::string out;
  for (auto& a : args)
    out += (out.empty() ? "" : " ") + a;
  return out;
}

resp_client::resp_client(uint16_t port) {
  timeval tv{10, 0};
  ctx_ = redisConnectWithTimeout("127.0.0.1", port, tv);
  if (!ctx_ || ctx_->err) {
    if (ctx_)
      redisFree(ctx_);  // the destructor does not run when the constructor throws
    throw std::runtime_error("cannot connect to port " + std::to_string(port));
  }
  redisSetTimeout(ctx_, tv);
}

resp_client::~resp_client() {
  if (ctx_)
    redisFree(ctx_);
}

void resp_client::append(const std::vector<std::string>& args) {
  std::vector<const char*> argv;
  std::vector<size_t> lens;
  for (auto& a : args) {
    argv.push_back(a.data());
    lens.push_back(a.size());
  }
  redisAppendCommandArgv(ctx_, static_cast<int>(argv.size()), argv.data(), lens.data());
}

void resp_client::flush() {
  int done = 0;
  while (!done)
    if (redisBufferWrite(ctx_, &done) != REDIS_OK)
      throw std::runtime_error(std::string("connection error: ") + ctx_->errstr);
}

reply resp_client::read() {
  void* raw = nullptr;
  if (redisGetReply(ctx_, &raw) != REDIS_OK)
    throw std::runtime_error(std::string("connection error: ") + ctx_->errstr);
  auto out = convert(static_cast<redisReply*>(raw));
  freeReplyObject(raw);
  return out;
}

reply resp_client::cmd(const std::vector<std::string>& args) {
  append(args);
  return read();
}

raw_socket::raw_socket(uint16_t port) {
  fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0)
    throw std::runtime_error("cannot connect");
}

raw_socket::~raw_socket() { ::close(fd_); }

void raw_socket::send(const std::string& bytes) {
  size_t off = 0;
  while (off < bytes.size()) {
    auto n = ::send(fd_, bytes.data() + off, bytes.size() - off, MSG_NOSIGNAL);
    if (n <= 0)
      throw std::runtime_error("send failed");
    off += static_cast<size_t>(n);
  }
}

bool raw_socket::try_send(const std::string& bytes) {
  try {
    send(bytes);
    return true;
  } catch (const std::runtime_error&) {
    return false;
  }
}

std::string raw_socket::receive(std::size_t n, int timeout_ms) {
  std::string out;
  char buf[65536];
  while (out.size() < n) {
    pollfd p{fd_, POLLIN, 0};
    if (::poll(&p, 1, timeout_ms) <= 0)
      break;
    auto got = ::recv(fd_, buf, sizeof buf, 0);
    if (got <= 0)
      break;
    out.append(buf, static_cast<size_t>(got));
  }
  return out;
}

bool raw_socket::closed_by_peer(int timeout_ms) {
  char buf[4096];
  for (;;) {
    pollfd p{fd_, POLLIN, 0};
    if (::poll(&p, 1, timeout_ms) <= 0)
      return false;
    auto got = ::recv(fd_, buf, sizeof buf, 0);
    if (got == 0)
      return true;
    if (got < 0)
      return true;
  }
}

}  // namespace wtcache::test
