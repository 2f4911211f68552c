// RESP2, the Redis wire protocol: an incremental request parser and reply
// writers. The parser never trusts a length it has not checked against its
// limits, and it skips an oversized bulk argument without buffering it so the
// client gets an error and the connection stays usable.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace wtcache::resp {

struct limits {
  std::size_t max_bulk = 16 * 1024 * 1024;  // one argument, bytes
  std::size_t max_args = 1024 * 1024;       // arguments in one command
  std::size_t max_inline = 64 * 1024;       // an inline command line, bytes
};

struct command {
  std::vector<std::string> args;
  // Set when an argument exceeded limits::max_bulk: its bytes were skipped,
  // the command must be answered with an error, not executed.
  std::size_t oversized_bytes = 0;
};

class parser {
public:
  enum class status { incomplete, command, error };

  explicit parser(limits lim = {}) : lim_(lim) {}

  // Appends bytes received from the socket.
  void feed(const char* data, std::size_t size);

  // Extracts the next complete command into `out`. After `error`, the stream
  // is unusable (the caller replies with error_message() and closes).
  status next(command& out);

  const std::string& error_message() const { return error_; }

  // Until the client authenticates, Redis's tighter limits hold: at most
  // 10 arguments of at most 16 KiB each, and more is a protocol error that
  // ends the connection (a stranger gets no room to make it buffer).
  void require_auth(bool on) { unauthenticated_ = on; }

  // Bytes received but not yet consumed by a complete command.
  std::size_t buffered() const { return buf_.size() - pos_ + partial_bytes_; }

private:
  // One argument is complete: the command too when it was the last (then
  // `out` takes it), else the next argument's header comes.
  bool argument_done(command& out);
  enum class state { start, arg_header, arg_body, skip_body };

  status fail(std::string msg);
  status parse_inline(command& out);
  // Reads one CRLF-terminated line starting at pos_; false when incomplete.
  bool read_line(std::string_view& line, std::size_t max_len, bool& too_long);
  void compact();

  limits lim_;
  std::string buf_;
  std::size_t pos_ = 0;
  state state_ = state::start;
  command cur_;
  std::size_t args_left_ = 0;
  std::size_t bulk_len_ = 0;
  std::size_t skip_left_ = 0;
  std::size_t partial_bytes_ = 0;
  std::string error_;
  bool unauthenticated_ = false;
};

// The value of field `name` in the text of Redis's INFO reply ("name:value"
// lines); empty when absent.
std::string info_field(std::string_view info, std::string_view name);

// Reply writers: each appends one RESP2 value to `out`.
void simple(std::string& out, std::string_view s);
void error(std::string& out, std::string_view s);  // s without the leading '-'
void integer(std::string& out, long long v);
void bulk(std::string& out, std::string_view s);
void nil(std::string& out);
void array_header(std::string& out, std::size_t n);

}  // namespace wtcache::resp
