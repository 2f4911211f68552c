// Redis's replies from bytes, with hiredis's own reader.
#include "backends/reply_reader.hpp"

#include <hiredis/hiredis.h>

namespace wtcache {

reply_reader::reply_reader() : reader_(redisReaderCreate()) {}

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
