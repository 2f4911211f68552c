#include "core/key_layout.hpp"

#include "core/namespaces.hpp"

namespace wtcache {

std::string_view hash_tag(std::string_view key) {
  auto open = key.find('{');
  if (open == std::string_view::npos)
    return key;
  auto close = key.find('}', open + 1);
  if (close == std::string_view::npos || close == open + 1)
    return key;
  return key.substr(open + 1, close - open - 1);
}

uint16_t key_slot(std::string_view key) {
  // CRC16-CCITT (XMODEM): polynomial 0x1021, initial value 0, no reflection,
  // as in the Redis Cluster specification.
  uint16_t crc = 0;
  for (unsigned char c : hash_tag(key)) {
    crc = static_cast<uint16_t>(crc ^ (static_cast<uint16_t>(c) << 8));
    for (int bit = 0; bit < 8; ++bit)
      crc = static_cast<uint16_t>((crc & 0x8000) ? (crc << 1) ^ 0x1021 : crc << 1);
  }
  return static_cast<uint16_t>(crc % cluster_slots);
}

bool valid_group_count(std::size_t groups) {
  return groups >= 256 && groups <= cluster_slots && (groups & (groups - 1)) == 0;
}

std::size_t key_layout::group_of(std::string_view client_key) const {
  return static_cast<std::size_t>(stable_hash(hash_tag(client_key), 0x5bd1e9955bd1e995ull) &
                                  (groups - 1));
}

std::string key_layout::tag(std::size_t g) const {
  return prefix + "{" + std::to_string(g) + "}";
}

std::string key_layout::entry(std::string_view client_key) const {
  auto out = tag(group_of(client_key));
  out += ':';
  out += client_key;
  return out;
}

std::string_view key_layout::client_key(std::string_view entry) const {
  auto close = entry.find('}', prefix.size());
  return close == std::string_view::npos ? std::string_view() : entry.substr(close + 2);
}

std::string key_layout::stream(std::string_view table, std::size_t g) const {
  return tag(g) + "q:" + std::string(table);
}

std::string key_layout::stats(std::string_view table, std::size_t g) const {
  return tag(g) + "n:" + std::string(table);
}

std::string key_layout::scratch(std::size_t g) const { return tag(g) + "t"; }

std::string old_queue_stream(const std::string& prefix, std::string_view table, std::size_t i) {
  return prefix + "wbq:" + std::string(table) + ":" + std::to_string(i);
}

std::string old_queue_stats(const std::string& prefix, std::string_view table) {
  return prefix + "wbq:" + std::string(table) + ":stats";
}

std::string old_version_clock(const std::string& prefix) { return prefix + "wbclock"; }

}  // namespace wtcache
