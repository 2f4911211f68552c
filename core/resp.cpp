// RESP2: the incremental request parser and the reply writers.
#include "core/resp.hpp"

#include <climits>

#include <algorithm>
#include <charconv>
#include <cstring>

namespace wtcache::resp {

namespace {

bool parse_length(std::string_view s, long long& out) {
  if (s.empty())
    return false;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return ec == std::errc{} && p == s.data() + s.size();
}

}  // namespace

void parser::feed(const char* data, std::size_t size) {
  compact();
  buf_.append(data, size);
}

void parser::compact() {
  if (pos_ > 0 && (pos_ == buf_.size() || pos_ > 64 * 1024)) {
    buf_.erase(0, pos_);
    pos_ = 0;
  }
}

parser::status parser::fail(std::string msg) {
  error_ = "Protocol error: " + std::move(msg);
  return status::error;
}

bool parser::read_line(std::string_view& line, std::size_t max_len,
                       bool& too_long) {
  too_long = false;
  auto end = buf_.find("\r\n", pos_);
  if (end == std::string::npos) {
    // A last '\r' may be the line's end, its '\n' still to come: not counted,
    // so that a line is judged the same however it is cut into reads.
    auto held = buf_.size() - pos_;
    if (held > 0 && buf_.back() == '\r')
      --held;
    too_long = held > max_len;
    return false;
  }
  if (end - pos_ > max_len) {
    too_long = true;
    return false;
  }
  line = std::string_view(buf_).substr(pos_, end - pos_);
  pos_ = end + 2;
  return true;
}

// Splits an inline command line like Redis's sdssplitargs: words separated
// by blanks, "double quotes" with \n \r \t \b \a \\ \" \xHH escapes,
// 'single quotes' with \' only. False for unbalanced quotes.
bool split_inline(std::string_view line, std::vector<std::string>& args) {
  auto hex = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  auto blank = [](char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; };
  std::size_t i = 0;
  for (;;) {
    while (i < line.size() && blank(line[i]))
      ++i;
    if (i == line.size())
      return true;
    std::string cur;
    if (line[i] == '"') {
      for (++i;; ++i) {
        if (i >= line.size())
          return false;
        char c = line[i];
        if (c == '\\' && i + 3 < line.size() && line[i + 1] == 'x' && hex(line[i + 2]) >= 0 &&
            hex(line[i + 3]) >= 0) {
          cur += static_cast<char>(hex(line[i + 2]) * 16 + hex(line[i + 3]));
          i += 3;
        } else if (c == '\\' && i + 1 < line.size()) {
          char e = line[++i];
          cur += e == 'n' ? '\n' : e == 'r' ? '\r' : e == 't' ? '\t' : e == 'b' ? '\b'
               : e == 'a' ? '\a' : e;
        } else if (c == '"') {
          ++i;
          break;
        } else {
          cur += c;
        }
      }
      if (i < line.size() && !blank(line[i]))
        return false;  // a closing quote must be followed by a blank
    } else if (line[i] == '\'') {
      for (++i;; ++i) {
        if (i >= line.size())
          return false;
        if (line[i] == '\\' && i + 1 < line.size() && line[i + 1] == '\'') {
          cur += '\'';
          ++i;
        } else if (line[i] == '\'') {
          ++i;
          break;
        } else {
          cur += line[i];
        }
      }
      if (i < line.size() && !blank(line[i]))
        return false;
    } else {
      while (i < line.size() && !blank(line[i]))
        cur += line[i++];
    }
    args.push_back(std::move(cur));
  }
}

parser::status parser::parse_inline(command& out) {
  // An inline command ends at the first '\n' (a '\r' before it is dropped),
  // as in Redis: "DEL a\nDEL b\r\n" is two commands.
  auto nl = buf_.find('\n', pos_);
  if (nl == std::string::npos) {
    if (buf_.size() - pos_ > lim_.max_inline)
      return fail("too big inline request");
    return status::incomplete;
  }
  if (nl - pos_ > lim_.max_inline)
    return fail("too big inline request");
  auto line = std::string_view(buf_).substr(pos_, nl - pos_);
  if (!line.empty() && line.back() == '\r')
    line.remove_suffix(1);
  pos_ = nl + 1;
  out.args.clear();
  out.oversized_bytes = 0;
  if (!split_inline(line, out.args))
    return fail("unbalanced quotes in request");
  return status::command;
}

bool parser::argument_done(command& out) {
  if (--args_left_ > 0) {
    state_ = state::arg_header;
    return false;
  }
  state_ = state::start;
  out = std::move(cur_);
  cur_ = command{};
  return true;
}

parser::status parser::next(command& out) {
  for (;;) {
    switch (state_) {
      case state::start: {
        if (pos_ >= buf_.size())
          return status::incomplete;
        if (buf_[pos_] != '*') {
          auto st = parse_inline(out);
          if (st == status::command && out.args.empty())
            continue;  // blank line: Redis ignores it
          return st;
        }
        std::string_view line;
        bool too_long = false;
        auto saved = pos_;
        if (!read_line(line, 64, too_long)) {
          if (too_long)
            return fail("too big mbulk count string");
          return status::incomplete;
        }
        long long n = 0;
        if (!parse_length(line.substr(1), n) || n > static_cast<long long>(lim_.max_args)) {
          pos_ = saved;
          return fail("invalid multibulk length");
        }
        if (n > 10 && unauthenticated_) {
          pos_ = saved;
          return fail("unauthenticated multibulk length");
        }
        if (n <= 0)
          continue;  // "*0" and "*-1" are empty commands
        cur_.args.clear();
        // A declared count costs the client nothing: reserve modestly.
        cur_.args.reserve(std::min<std::size_t>(static_cast<std::size_t>(n), 1024));
        cur_.oversized_bytes = 0;
        args_left_ = static_cast<std::size_t>(n);
        state_ = state::arg_header;
        break;
      }
      case state::arg_header: {
        if (pos_ >= buf_.size())
          return status::incomplete;
        if (buf_[pos_] != '$')
          return fail(std::string("expected '$', got '") + buf_[pos_] + "'");
        std::string_view line;
        bool too_long = false;
        if (!read_line(line, 64, too_long)) {
          if (too_long)
            return fail("too big bulk count string");
          return status::incomplete;
        }
        long long len = 0;
        if (!parse_length(line.substr(1), len) || len < 0)
          return fail("invalid bulk length");
        bulk_len_ = static_cast<std::size_t>(len);
        if (bulk_len_ > 16384 && unauthenticated_)
          return fail("unauthenticated bulk length");
        if (bulk_len_ > lim_.max_bulk) {
          cur_.oversized_bytes = std::max(cur_.oversized_bytes, bulk_len_);
          cur_.args.emplace_back();
          skip_left_ = bulk_len_ + 2;
          state_ = state::skip_body;
        } else {
          cur_.args.emplace_back();
          // Reserve no more than a modest amount up front: a declared length
          // costs nothing to send, the bytes behind it do.
          cur_.args.back().reserve(std::min<std::size_t>(bulk_len_, 1024 * 1024));
          partial_bytes_ = 0;
          state_ = state::arg_body;
        }
        break;
      }
      case state::arg_body: {
        // Move what is available into the argument so a large value is not
        // held twice while it trickles in.
        auto& arg = cur_.args.back();
        std::size_t want = bulk_len_ - arg.size();
        std::size_t have = buf_.size() - pos_;
        std::size_t take = std::min(want, have);
        arg.append(buf_, pos_, take);
        pos_ += take;
        partial_bytes_ = arg.size();
        if (arg.size() < bulk_len_) {
          compact();
          return status::incomplete;
        }
        if (buf_.size() - pos_ < 2)
          return status::incomplete;
        if (buf_[pos_] != '\r' || buf_[pos_ + 1] != '\n')
          return fail("bulk argument not terminated by CRLF");
        pos_ += 2;
        partial_bytes_ = 0;
        if (argument_done(out))
          return status::command;
        break;
      }
      case state::skip_body: {
        std::size_t have = buf_.size() - pos_;
        std::size_t take = std::min(skip_left_, have);
        pos_ += take;
        skip_left_ -= take;
        compact();
        if (skip_left_ > 0)
          return status::incomplete;
        if (argument_done(out))
          return status::command;
        break;
      }
    }
  }
}

std::string info_field(std::string_view info, std::string_view name) {
  for (auto at = info.find(name); at != std::string_view::npos; at = info.find(name, at + 1)) {
    auto colon = at + name.size();
    if ((at == 0 || info[at - 1] == '\n') && colon < info.size() && info[colon] == ':') {
      auto value = info.substr(colon + 1);
      return std::string(value.substr(0, value.find_first_of("\r\n")));
    }
  }
  return {};
}

void simple(std::string& out, std::string_view s) {
  out += '+';
  out += s;
  out += "\r\n";
}

void error(std::string& out, std::string_view s) {
  out += '-';
  // An error line must not contain CR or LF.
  for (char c : s)
    out += (c == '\r' || c == '\n') ? ' ' : c;
  out += "\r\n";
}

void integer(std::string& out, long long v) {
  out += ':';
  out += std::to_string(v);
  out += "\r\n";
}

void bulk(std::string& out, std::string_view s) {
  out += '$';
  out += std::to_string(s.size());
  out += "\r\n";
  out += s;
  out += "\r\n";
}

void nil(std::string& out) { out += "$-1\r\n"; }

void array_header(std::string& out, std::size_t n) {
  out += '*';
  out += std::to_string(n);
  out += "\r\n";
}

}  // namespace wtcache::resp
