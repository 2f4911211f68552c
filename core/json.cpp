// The strict JSON validator for jsonb values, and JSON string quoting.
#include "core/json.hpp"

#include <cstdint>

namespace wtcache {

namespace {

// PostgreSQL's jsonb refuses \u0000 and nesting deeper than its stack allows;
// we cap depth well below that so a hostile value cannot exhaust our stack.
constexpr int max_depth = 512;

class validator {
public:
  explicit validator(std::string_view s) : s_(s) {}

  std::optional<std::string> run() {
    ws();
    if (!value(0))
      return err_;
    ws();
    if (i_ != s_.size())
      return fail("unexpected data after the JSON value"), err_;
    return std::nullopt;
  }

private:
  bool fail(const char* what) {
    if (!err_)
      err_ = "invalid JSON at byte " + std::to_string(i_) + ": " + what;
    return false;
  }
  bool eof() const { return i_ >= s_.size(); }
  char peek() const { return s_[i_]; }
  void ws() {
    while (!eof() && (peek() == ' ' || peek() == '\t' || peek() == '\n' || peek() == '\r'))
      ++i_;
  }
  bool literal(std::string_view word) {
    if (s_.substr(i_, word.size()) != word)
      return fail("unknown literal");
    i_ += word.size();
    return true;
  }

  bool value(int depth) {
    if (depth > max_depth)
      return fail("nested too deeply");
    if (eof())
      return fail("expected a value, got end of input");
    switch (peek()) {
      case '{': return object(depth + 1);
      case '[': return array(depth + 1);
      case '"': return string();
      case 't': return literal("true");
      case 'f': return literal("false");
      case 'n': return literal("null");
      default:
        if (peek() == '-' || (peek() >= '0' && peek() <= '9'))
          return number();
        return fail("expected a value");
    }
  }

  bool object(int depth) {
    ++i_;
    ws();
    if (!eof() && peek() == '}') {
      ++i_;
      return true;
    }
    for (;;) {
      ws();
      if (eof() || peek() != '"')
        return fail("expected a string key");
      if (!string())
        return false;
      ws();
      if (eof() || peek() != ':')
        return fail("expected ':'");
      ++i_;
      ws();
      if (!value(depth))
        return false;
      ws();
      if (eof())
        return fail("expected ',' or '}', got end of input");
      if (peek() == ',') {
        ++i_;
        continue;
      }
      if (peek() == '}') {
        ++i_;
        return true;
      }
      return fail("expected ',' or '}'");
    }
  }

  bool array(int depth) {
    ++i_;
    ws();
    if (!eof() && peek() == ']') {
      ++i_;
      return true;
    }
    for (;;) {
      ws();
      if (!value(depth))
        return false;
      ws();
      if (eof())
        return fail("expected ',' or ']', got end of input");
      if (peek() == ',') {
        ++i_;
        continue;
      }
      if (peek() == ']') {
        ++i_;
        return true;
      }
      return fail("expected ',' or ']'");
    }
  }

  bool hex4(uint32_t& cp) {
    cp = 0;
    for (int k = 0; k < 4; ++k, ++i_) {
      if (eof())
        return fail("truncated \\u escape");
      char c = peek();
      cp <<= 4;
      if (c >= '0' && c <= '9') cp |= c - '0';
      else if (c >= 'a' && c <= 'f') cp |= c - 'a' + 10;
      else if (c >= 'A' && c <= 'F') cp |= c - 'A' + 10;
      else return fail("invalid \\u escape");
    }
    return true;
  }

  // Validates one UTF-8 sequence starting at i_ (the lead byte is >= 0x80).
  bool utf8() {
    auto b = static_cast<unsigned char>(peek());
    int extra;
    uint32_t cp;
    if (b >= 0xC2 && b <= 0xDF) { extra = 1; cp = b & 0x1F; }
    else if (b >= 0xE0 && b <= 0xEF) { extra = 2; cp = b & 0x0F; }
    else if (b >= 0xF0 && b <= 0xF4) { extra = 3; cp = b & 0x07; }
    else return fail("invalid UTF-8");
    ++i_;
    for (int k = 0; k < extra; ++k, ++i_) {
      if (eof())
        return fail("truncated UTF-8 sequence");
      auto c = static_cast<unsigned char>(peek());
      if ((c & 0xC0) != 0x80)
        return fail("invalid UTF-8");
      cp = (cp << 6) | (c & 0x3F);
    }
    if ((extra == 2 && cp < 0x800) || (extra == 3 && (cp < 0x10000 || cp > 0x10FFFF)) ||
        (cp >= 0xD800 && cp <= 0xDFFF))
      return fail("invalid UTF-8");
    return true;
  }

  bool string() {
    ++i_;
    for (;;) {
      if (eof())
        return fail("unterminated string");
      auto c = static_cast<unsigned char>(peek());
      if (c == '"') {
        ++i_;
        return true;
      }
      if (c < 0x20)
        return fail("control character in string");
      if (c >= 0x80) {
        if (!utf8())
          return false;
        continue;
      }
      if (c != '\\') {
        ++i_;
        continue;
      }
      ++i_;
      if (eof())
        return fail("unterminated escape");
      switch (peek()) {
        case '"': case '\\': case '/': case 'b': case 'f': case 'n': case 'r': case 't':
          ++i_;
          break;
        case 'u': {
          ++i_;
          uint32_t cp;
          if (!hex4(cp))
            return false;
          if (cp == 0)
            return fail("\\u0000 cannot be stored in jsonb");
          if (cp >= 0xDC00 && cp <= 0xDFFF)
            return fail("lone low surrogate in \\u escape");
          if (cp >= 0xD800 && cp <= 0xDBFF) {
            if (s_.substr(i_, 2) != "\\u")
              return fail("high surrogate without its low surrogate");
            i_ += 2;
            uint32_t lo;
            if (!hex4(lo))
              return false;
            if (lo < 0xDC00 || lo > 0xDFFF)
              return fail("high surrogate without its low surrogate");
          }
          break;
        }
        default:
          return fail("invalid escape");
      }
    }
  }

  bool digits() {
    if (eof() || peek() < '0' || peek() > '9')
      return fail("expected a digit");
    while (!eof() && peek() >= '0' && peek() <= '9')
      ++i_;
    return true;
  }

  bool number() {
    if (peek() == '-')
      ++i_;
    if (eof())
      return fail("expected a digit");
    if (peek() == '0') {
      ++i_;
      if (!eof() && peek() >= '0' && peek() <= '9')
        return fail("leading zero in number");
    } else if (!digits()) {
      return false;
    }
    if (!eof() && peek() == '.') {
      ++i_;
      if (!digits())
        return false;
    }
    if (!eof() && (peek() == 'e' || peek() == 'E')) {
      ++i_;
      if (!eof() && (peek() == '+' || peek() == '-'))
        ++i_;
      if (!digits())
        return false;
    }
    return true;
  }

  std::string_view s_;
  std::size_t i_ = 0;
  std::optional<std::string> err_;
};

}  // namespace

std::optional<std::string> json_error(std::string_view text) {
  return validator(text).run();
}

namespace {

// The length of the well-formed UTF-8 sequence at s[i] (1 to 4), or 0.
std::size_t utf8_length(std::string_view s, std::size_t i) {
  auto b = [&](std::size_t k) { return static_cast<unsigned char>(s[i + k]); };
  auto cont = [&](std::size_t k) { return i + k < s.size() && (b(k) & 0xC0) == 0x80; };
  unsigned char c = b(0);
  if (c < 0x80)
    return 1;
  if (c >= 0xC2 && c <= 0xDF)
    return cont(1) ? 2 : 0;
  if (c >= 0xE0 && c <= 0xEF) {
    if (!cont(1) || !cont(2))
      return 0;
    if ((c == 0xE0 && b(1) < 0xA0) || (c == 0xED && b(1) >= 0xA0))
      return 0;  // overlong, or a surrogate
    return 3;
  }
  if (c >= 0xF0 && c <= 0xF4) {
    if (!cont(1) || !cont(2) || !cont(3))
      return 0;
    if ((c == 0xF0 && b(1) < 0x90) || (c == 0xF4 && b(1) >= 0x90))
      return 0;
    return 4;
  }
  return 0;
}

}  // namespace

void json_quote(std::string& out, std::string_view s) {
  static const char* hex = "0123456789abcdef";
  out += '"';
  for (std::size_t i = 0; i < s.size(); ++i) {
    auto c = static_cast<unsigned char>(s[i]);
    if (c >= 0x80) {
      // Well-formed UTF-8 as it is; any other byte as U+FFFD, so that the
      // text stays valid JSON whatever a client sent.
      if (auto n = utf8_length(s, i); n > 0) {
        out.append(s.substr(i, n));
        i += n - 1;
      } else {
        out += "\\ufffd";
      }
      continue;
    }
    char ch = s[i];
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (c < 0x20) {
          out += "\\u00";
          out += hex[c >> 4];
          out += hex[c & 15];
        } else {
          out += ch;
        }
    }
  }
  out += '"';
}

}  // namespace wtcache
