// libFuzzer: the RESP request parser (core/resp.hpp), as a client's bytes
// reach it. The first byte picks the limits (authenticated or not) and how
// the rest is cut into reads; every cut must give the same commands as the
// whole input at once, and the parser must never buffer past its limits.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <vector>

#include "core/resp.hpp"

namespace {

using wtcache::resp::command;
using wtcache::resp::parser;

struct outcome {
  std::vector<std::vector<std::string>> commands;
  std::vector<std::size_t> oversized;
  bool failed = false;
  std::string error;
};

outcome parse(const uint8_t* data, std::size_t size, std::size_t chunk, bool unauthenticated) {
  wtcache::resp::limits lim;
  lim.max_bulk = 4096;  // small, so that skipping oversized arguments is reached
  lim.max_args = 64;
  lim.max_inline = 1024;
  parser p(lim);
  p.require_auth(unauthenticated);
  outcome out;
  command cmd;
  for (std::size_t at = 0; at < size && !out.failed; at += chunk) {
    auto n = std::min(chunk, size - at);
    p.feed(reinterpret_cast<const char*>(data) + at, n);
    for (;;) {
      auto st = p.next(cmd);
      if (st == parser::status::incomplete)
        break;
      if (st == parser::status::error) {
        out.failed = true;
        out.error = p.error_message();
        break;
      }
      // A multibulk command has at most max_args arguments; an inline one,
      // as in Redis, is bounded by its line alone (one byte and a blank each).
      if (cmd.args.size() > std::max(lim.max_args, lim.max_inline / 2 + 1))
        std::abort();
      out.commands.push_back(cmd.args);
      out.oversized.push_back(cmd.oversized_bytes);
    }
    // What it holds for an unfinished command stays within the limits:
    // a declared length costs the client nothing, the bytes behind it do.
    if (!out.failed && p.buffered() > 2 * (lim.max_bulk + lim.max_inline) + n + 64 * 1024)
      std::abort();
  }
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, std::size_t size) {
  if (size == 0)
    return 0;
  bool unauthenticated = data[0] & 1;
  std::size_t chunk = 1 + (data[0] >> 1) % 17;
  auto whole = parse(data + 1, size - 1, size, unauthenticated);
  auto cut = parse(data + 1, size - 1, chunk, unauthenticated);
  if (whole.failed != cut.failed || whole.error != cut.error || whole.commands != cut.commands ||
      whole.oversized != cut.oversized)
    std::abort();
  return 0;
}
