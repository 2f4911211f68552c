// Glob matching with one backtracking point per star (linear for the usual patterns).
#include "core/glob.hpp"

#include <utility>

namespace wtcache {

namespace {

// Does pattern position `i` (not a star) match byte `c`? Sets `next` to
// the position after the element.
bool element_matches(std::string_view p, std::size_t i, char c, std::size_t& next) {
  if (p[i] == '?') {
    next = i + 1;
    return true;
  }
  if (p[i] == '\\' && i + 1 < p.size()) {
    next = i + 2;
    return p[i + 1] == c;
  }
  if (p[i] != '[') {
    next = i + 1;
    return p[i] == c;
  }
  // A set: up to the closing bracket, or the end of the pattern.
  std::size_t j = i + 1;
  bool negated = j < p.size() && p[j] == '^';
  if (negated)
    ++j;
  bool hit = false;
  while (j < p.size() && p[j] != ']') {
    if (p[j] == '\\' && j + 1 < p.size()) {
      hit = hit || p[j + 1] == c;
      j += 2;
    } else if (j + 2 < p.size() && p[j + 1] == '-') {
      auto lo = static_cast<unsigned char>(p[j]), hi = static_cast<unsigned char>(p[j + 2]);
      if (lo > hi)
        std::swap(lo, hi);
      auto u = static_cast<unsigned char>(c);
      hit = hit || (u >= lo && u <= hi);
      j += 3;
    } else {
      hit = hit || p[j] == c;
      ++j;
    }
  }
  next = j < p.size() ? j + 1 : j;
  return hit != negated;
}

}  // namespace

bool glob_match(std::string_view p, std::string_view s) {
  constexpr auto none = std::string_view::npos;
  std::size_t pi = 0, si = 0, star = none, star_si = 0;
  while (si < s.size()) {
    if (pi < p.size() && p[pi] == '*') {
      star = pi++;
      star_si = si;
      continue;
    }
    std::size_t next = 0;
    if (pi < p.size() && element_matches(p, pi, s[si], next)) {
      pi = next;
      ++si;
      continue;
    }
    if (star == none)
      return false;
    // Let the last star take one more byte, and try again after it.
    pi = star + 1;
    si = ++star_si;
  }
  while (pi < p.size() && p[pi] == '*')
    ++pi;
  return pi == p.size();
}

std::string literal_prefix(std::string_view p) {
  std::string out;
  for (std::size_t i = 0; i < p.size(); ++i) {
    if (p[i] == '*' || p[i] == '?' || p[i] == '[')
      break;
    if (p[i] == '\\' && i + 1 < p.size())
      ++i;
    out += p[i];
  }
  return out;
}

}  // namespace wtcache
