// Redis's replies from bytes, with hiredis's own reader.
#include "backends/reply_reader.hpp"

#include <hiredis/hiredis.h>

namespace wtcache {

namespace {

// hiredis allocates an array's element pointers as soon as it reads the
// header, so "*300000000" alone would take 2.4 GB. No reply the cache
// reader asks for comes near this; a longer one fails the stream.
constexpr int max_array_elements = 1 << 20;

const redisReplyObjectFunctions* hiredis_functions() {
  static const redisReplyObjectFunctions* fns = [] {
    auto* r = redisReaderCreate();
    auto* f = r->fn;  // hiredis's own, which lives as long as the library
    redisReaderFree(r);
    return f;
  }();
  return fns;
}

void* bounded_array(const redisReadTask* task, int elements) {
  if (elements > max_array_elements)
    return nullptr;  // the reader fails the stream
  return hiredis_functions()->createArray(task, elements);
}

redisReplyObjectFunctions* bounded_functions() {
  static redisReplyObjectFunctions fns = [] {
    auto f = *hiredis_functions();
    f.createArray = bounded_array;
    return f;
  }();
  return &fns;
}

}  // namespace

reply_reader::reply_reader() : reader_(redisReaderCreateWithFunctions(bounded_functions())) {}

reply_reader::~reply_reader() { redisReaderFree(reader_); }

void reply_reader::feed(const char* data, std::size_t size) {
  if (!failed_ && redisReaderFeed(reader_, data, size) != REDIS_OK)
    failed_ = true;
}

reply_reader::status reply_reader::next(redis_reply& out) {
  if (failed_)
    return status::error;
  void* raw = nullptr;
  if (redisReaderGetReply(reader_, &raw) != REDIS_OK) {
    failed_ = true;
    return status::error;
  }
  if (!raw)
    return status::incomplete;
  out.reset(static_cast<redisReply*>(raw));
  return status::reply;
}

std::string reply_reader::error_message() const {
  return reader_->err ? std::string(reader_->errstr) : std::string("the reader failed");
}

}  // namespace wtcache
