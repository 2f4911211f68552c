// Redis's replies from bytes that arrive on a socket hiredis does not own
// (the cache reader's, which CAF's multiplexer drives): hiredis's own reply
// reader (redisReader), fed what comes in. A reply is handed out only once
// all of it is there.
#pragma once

#include <cstddef>
#include <string>

#include "backends/redis_connection.hpp"

struct redisReader;

namespace wtcache {

class reply_reader {
public:
  enum class status { incomplete, reply, error };

  reply_reader();
  ~reply_reader();
  reply_reader(const reply_reader&) = delete;
  reply_reader& operator=(const reply_reader&) = delete;

  void feed(const char* data, std::size_t size);
  // The next complete reply. After `error` the stream is unusable (the
  // caller drops the connection); error_message() says why.
  status next(redis_reply& out);
  std::string error_message() const;

private:
  redisReader* reader_;
  bool failed_ = false;
};

}  // namespace wtcache
